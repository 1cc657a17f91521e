"""`CompareConfig`: what a comparison reads and runs. Light (no model or analysis is
imported), so that the CLI takes its defaults from it while it parses."""

from __future__ import annotations

from dataclasses import dataclass

from sgt_probe.report.schema import SUITES


@dataclass(frozen=True)
class CompareConfig:
    # held-out scenes for the understanding and generation benchmarks: 512 give paired CIs of
    # about +-0.03 on overall understanding (64 gave +-0.10)
    n_scenes: int = 512
    # the first of those for proxy quality: a per-pixel metric, precise on fewer scenes, and each
    # checkpoint draws a map per scene for every proxy compared
    n_proxy_scenes: int = 128
    # the first of those whose questions the attention and knockout suites read (a forward pass
    # per question, and knockout one more per window of layers)
    n_analysis_scenes: int = 64
    n_probe_scenes: int = 160  # held-out scenes whose image patches the probes see
    n_explorer: int = 8
    n_embed_scenes: int = 24
    embed: tuple[str, ...] = ()  # checkpoints that get UMAP panels (empty: all of them)
    knockout_window: int = 0  # 0: about a quarter of the layers
    n_boot: int = 1000
    seed: int = 0
    device: str = "cpu"
    # sequences per hooked forward (residual capture, attention): the attention suite holds
    # one layer's pattern of a batch at a time, T x T per head (docs/models.md)
    batch_size: int = 32
    suites: tuple[str, ...] = SUITES  # which analyses run (sgt_probe.compare.suites)
    # whether the benchmarks draw and judge generations (the costliest part of them); a study
    # arm that reads only understanding leaves them out
    generation: bool = True
