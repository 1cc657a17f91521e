"""The knockout suite: how much the right answer's probability depends on text->image
attention in each window of layers; definition in `sgt_probe.report.schema.DEFINITIONS`.
"""

from __future__ import annotations

import numpy as np

from sgt_probe.attention.knockout import knockout_mask, layer_windows, relative_change
from sgt_probe.compare.inputs import Inputs
from sgt_probe.compare.suites.attention import text_queries
from sgt_probe.model.generate import answer_probs
from sgt_probe.model.sequences import ROLE_IMAGE, Item
from sgt_probe.probes.stats import bootstrap_ci
from sgt_probe.report.schema import Knockout, KnockoutCurve

NAME = "knockout"


def knockout_curve(
    model, n_layers: int, items: list[Item], vocab, choices, window: int,
    n_boot: int = 1000, seed: int = 0,
) -> KnockoutCurve:  # fmt: skip
    """Relative change of p(correct answer) when text->image edges are blocked in each window.

    The edges are blocked in the model's own attention (an additive mask on those layers'
    scores, `answer_probs(edit=...)`), so every pass reads a scene's image context once for all
    its questions: blocking text->image edges leaves the context's own positions untouched, as
    no text query comes before them. tests/test_capture.py checks this against the same
    knockout done through the TransformerBridge's hook_attn_scores on whole sequences.
    """
    p_base, _ = answer_probs(model, items, vocab, choices)
    windows = layer_windows(n_layers, window)
    change, lows, highs = [], [], []
    for first, last in windows:
        p_new, _ = answer_probs(model, items, vocab, choices,
                                edit=(range(first, last + 1), text_to_image_block))  # fmt: skip
        m, lo, hi = bootstrap_ci(relative_change(p_new, p_base), n_boot=n_boot, seed=seed)
        change.append(m)
        lows.append(lo)
        highs.append(hi)
    return KnockoutCurve(windows=windows, center=list(range(n_layers)),
                         relative_change=change, lo=lows, hi=highs)  # fmt: skip


def text_to_image_block(roles_q, roles_k):
    """The additive mask [b, 1, Q, K] that blocks text queries' edges to image keys (added onto
    the model's own causal mask)."""
    return knockout_mask(text_queries(roles_q), roles_k == ROLE_IMAGE, causal=False)


def run(inputs: Inputs, arrays: dict[str, np.ndarray]) -> Knockout:
    ev, cfg = inputs.eval, inputs.cfg
    window = cfg.knockout_window or max(1, inputs.n_layers // 4)  # 0: about a quarter
    choices = [qa.choices for qa in ev.questions]
    curves = {
        name: knockout_curve(
            ld.model,
            inputs.n_layers,
            ev.qa,
            ld.vocab,
            choices,
            window,
            n_boot=cfg.n_boot,
            seed=cfg.seed,
        )  # fmt: skip
        for name, ld in inputs.loaded.items()
    }
    return Knockout(curves=curves)
