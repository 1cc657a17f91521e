"""The knockout suite: how much the right answer's probability depends on text->image
attention in each window of layers; definition in `sgt_probe.report.schema.DEFINITIONS`.
"""

from __future__ import annotations

import numpy as np

from sgt_probe.attention.knockout import (
    apply_knockout_to_scores,
    knockout_mask,
    layer_windows,
    relative_change,
)
from sgt_probe.capture.bridge import HookedRunner, scores_name
from sgt_probe.compare.inputs import Inputs
from sgt_probe.compare.suites.attention import text_queries
from sgt_probe.model.sequences import ROLE_IMAGE, Item
from sgt_probe.probes.stats import bootstrap_ci
from sgt_probe.report.schema import Knockout, KnockoutCurve

NAME = "knockout"


def knockout_curve(
    runner: HookedRunner, source, items: list[Item], choices, window: int,
    n_boot: int = 1000, seed: int = 0,
) -> KnockoutCurve:  # fmt: skip
    """Relative change of p(correct answer) when text->image edges are blocked in each window;
    the source scores the answers.

    A source that can edit its own attention (`edit_attention`: our checkpoints) has the edges
    blocked there, an additive mask on those layers' scores (`answer_probs_edited`), so one
    pass reads a scene's image context once for all its questions and every window: blocking
    text->image edges leaves the context's own positions untouched, as no text query comes
    before them. Any other source runs whole sequences through `runner`'s hooked forward
    (hook_attn_scores) once per window; tests/test_capture.py checks the two against each other.
    """
    windows = layer_windows(runner.n_layers, window)
    if getattr(source, "edit_attention", False):
        edits = [(range(first, last + 1), text_to_image_block) for first, last in windows]
        (p_base, _), *blocked = source.answer_probs_edited(items, choices, [None, *edits])
    else:

        def hooks(first: int, last: int):
            def make(batch):
                # the hooked scores already carry the causal mask: add only the blocked edges
                add = text_to_image_block(batch["roles"], batch["roles"])

                def hook(scores, hook):
                    return apply_knockout_to_scores(scores, add)

                return [(scores_name(layer), hook) for layer in range(first, last + 1)]

            return make

        def scored(make_hooks):
            def forward(batch):
                logits, _ = runner.run(batch, (), extra_hooks=make_hooks(batch))
                return logits

            return source.answer_probs(items, choices, forward=forward)

        p_base, _ = scored(lambda batch: [])
        blocked = [scored(hooks(first, last)) for first, last in windows]
    change, lows, highs = [], [], []
    for p_new, _ in blocked:
        m, lo, hi = bootstrap_ci(relative_change(p_new, p_base), n_boot=n_boot, seed=seed)
        change.append(m)
        lows.append(lo)
        highs.append(hi)
    return KnockoutCurve(windows=windows, center=list(range(runner.n_layers)),
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
            inputs.runner(name), ld, ev.qa, choices, window, n_boot=cfg.n_boot, seed=cfg.seed
        )  # fmt: skip
        for name, ld in inputs.loaded.items()
    }
    return Knockout(curves=curves)
