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
    the source scores the answers, through `runner`'s hooked forward."""

    def forward_with(hooks):
        def forward(batch):
            logits, _ = runner.run(batch, (), extra_hooks=hooks(batch))
            return logits

        return forward

    p_base, _ = source.answer_probs(items, choices, forward=forward_with(lambda b: []))
    windows = layer_windows(runner.n_layers, window)
    change, lows, highs = [], [], []
    for first, last in windows:

        def hooks(batch, first=first, last=last):
            roles = batch["roles"]
            # the hooked scores already carry the causal mask: add only the blocked edges
            add = knockout_mask(text_queries(roles), roles == ROLE_IMAGE, causal=False)

            def hook(scores, hook):
                return apply_knockout_to_scores(scores, add)

            return [(scores_name(layer), hook) for layer in range(first, last + 1)]

        p_new, _ = source.answer_probs(items, choices, forward=forward_with(hooks))
        m, lo, hi = bootstrap_ci(relative_change(p_new, p_base), n_boot=n_boot, seed=seed)
        change.append(m)
        lows.append(lo)
        highs.append(hi)
    return KnockoutCurve(windows=windows, center=list(range(runner.n_layers)),
                         relative_change=change, lo=lows, hi=highs)  # fmt: skip


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
