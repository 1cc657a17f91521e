"""Attention statistics reduced inside the forward's hooks, one layer at a time
(docs/design.md §5, docs/models.md).

A statistic is a function `stat(pattern, ctx) -> [..., B, *]`: per sample (and head, ...) of a
pattern `[..., B, H, Q, K]`, the leading axes (a layer axis) kept, as the functions of
`attention.stats` are. `reduce_patterns` runs every batch of items through a hooked runner and
applies each statistic to each layer's pattern as that layer produces it, then drops the
pattern (`HookedRunner.each_pattern`); memory holds about one layer's pattern instead of every
layer's. The result is, per statistic, `[L, N, *]` over the N items in order.

`stream=False` is the stacked computation it replaces: every layer's pattern of a batch cached
and stacked `[L, B, H, Q, K]`, as the suite held them before, kept for the test and
`benchmarks/attention_memory.py`, which compare the two. Its statistics are applied to the
stack layer by layer, the very float32 operations streaming performs, so the two agree exactly:
applied to the whole stack at once (as before), reductions taken in another order differ in the
last bits (7e-7 on an entropy near 5, one float32 step), and its temporaries span every layer.

A new statistic is one entry in the suite's table of them (`compare/suites/attention.py`),
reading what it needs of a batch from the context its `context` function builds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sgt_probe.capture.bridge import HookedRunner, pattern_name

Stat = Callable[[torch.Tensor, object], np.ndarray]
# context(start, items, batch) -> what the statistics read of a batch (masks, labels)
Context = Callable[[int, list, dict], object]


def reduce_patterns(runner: HookedRunner, items: list, stats: dict[str, Stat],
                    context: Context, batch_size: int = 32, stream: bool = True
                    ) -> dict[str, np.ndarray]:  # fmt: skip
    """name -> [L, N, *]: each statistic of each layer's pattern, over `items` in order.

    Each pattern reaches the statistics as float32 (float64 stays), converted once per layer:
    the statistics sum small weights, which half precision would lose.
    """
    n_layers = runner.n_layers
    per_layer: dict[str, list[list[np.ndarray]]] = {k: [[] for _ in range(n_layers)] for k in stats}
    stacked: dict[str, list[np.ndarray]] = {k: [] for k in stats}
    names = [pattern_name(layer) for layer in range(n_layers)]
    for s, chunk, batch in runner.batches(items, batch_size):
        ctx = context(s, chunk, batch)
        if stream:

            def reduce(layer: int, pattern: torch.Tensor, ctx=ctx) -> None:
                p = _precise(pattern)
                for k, stat in stats.items():
                    per_layer[k][layer].append(np.asarray(stat(p, ctx)))

            runner.each_pattern(batch, reduce)
        else:
            _, cache = runner.run(batch, names)
            pattern = _precise(torch.stack([cache.pop(n) for n in names]))  # [L, B, H, Q, K]
            for k, stat in stats.items():  # layer by layer: the very operations streaming does
                stacked[k].append(np.stack([np.asarray(stat(p, ctx)) for p in pattern]))
            del pattern
    if stream:
        return {k: np.stack([np.concatenate(chunks, axis=0) for chunks in per_layer[k]])
                for k in stats}  # fmt: skip
    return {k: np.concatenate(chunks, axis=1) for k, chunks in stacked.items()}


def _precise(pattern: torch.Tensor) -> torch.Tensor:
    return pattern if pattern.dtype == torch.float64 else pattern.float()
