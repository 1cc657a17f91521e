"""`sgt-probe reproduce`: the SGT reproduction study (all proxies x seeds x worlds), resumable.

Layout: OUT/<world>/seed<k>/{base,<proxy>}.pt and OUT/<world>/seed<k>/report/, then the
analyses/ figures under OUT/figures/. Every finished checkpoint or report is reused.

Every seed of a world starts from the world's shipped base (sgt_probe/bases/), as the paper
post-trains one released model: the seed varies the tuning (batch order), not the base, so
the study's intervals leave base-training variance out. --train-bases trains one base per
seed instead (hours each on a CPU).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sgt_probe.cli import app
from sgt_probe.cli.options import (
    GENERATED_WORLDS,
    Device,
    Jobs,
    Preset,
    names_from,
    out_dir,
)
from sgt_probe.data.proxies import PROXIES
from sgt_probe.pipeline import Run, run_pipeline
from sgt_probe.report.format import UMAP_PAIR

# A study's seeds: each is a run directory of a base, its tunings and a report, hours of CPU;
# a hundred would take months.
MAX_SEEDS = 100


def study_runs(out: Path, preset: str, seeds: int, worlds: list[str], proxies: list[str],
               compare: dict | None = None, overrides: dict | None = None,
               bases: dict[str, Path] | None = None) -> list[Run]:  # fmt: skip
    """One run per (world, seed): its base (`bases[world]` copied in, or trained), its tunings,
    compared in its own report.

    compare: CompareConfig fields; overrides: preset fields (tests shrink both).
    """
    bases = bases or {}
    return [
        Run(
            out / world / f"seed{seed}",
            world,
            seed,
            preset,
            tuple(proxies),
            # only the UMAP figure's pair: embedding every checkpoint costs ~a minute a report
            compare={"embed": UMAP_PAIR, **(compare or {})},
            overrides=overrides or {},
            base_from=bases.get(world),
        )
        for world in worlds
        for seed in range(seeds)
    ]


def run_study(out: Path, preset: str, seeds: int, worlds: list[str], proxies: list[str],
              device: str, compare: dict | None = None, overrides: dict | None = None,
              jobs: int | None = None, bases: dict[str, Path] | None = None) -> list[Path]:  # fmt: skip
    """Tune and compare every (world, seed), from `bases` or trained bases; return the
    report dirs."""
    runs = study_runs(out, preset, seeds, worlds, proxies, compare, overrides, bases)
    run_pipeline(runs, device, jobs)
    return [run.report for run in runs]


@app.command()
def reproduce(
    out: Annotated[Path, typer.Option(callback=out_dir, help="study directory")] = Path(
        "runs/repro"
    ),
    preset: Preset = "small",
    seeds: Annotated[
        int, typer.Option(min=1, max=MAX_SEEDS, help="seeds per world (each a run of hours)")
    ] = 3,
    worlds: Annotated[
        str, typer.Option(callback=names_from(GENERATED_WORLDS), help="comma-separated worlds")
    ] = "shapes,digits",
    proxies: Annotated[
        str, typer.Option(callback=names_from(PROXIES), help="comma-separated proxies")
    ] = "none,reconstruction,inpainting,edge,depth,segmentation",
    device: Device = None,
    jobs: Jobs = None,
    train_bases: Annotated[
        bool, typer.Option(help="train one base per seed instead of the shipped ones (hours)")
    ] = False,
) -> None:
    """Run the whole study (every proxy, seed and world), then the analyses/ figures."""
    from sgt_probe.analyses.make_all import make_all
    from sgt_probe.bases import shipped_base
    from sgt_probe.device import default_device

    t0 = time.perf_counter()
    device = device or default_device()
    world_list = worlds.split(",")
    bases = {} if train_bases else {w: shipped_base(w, preset) for w in world_list}
    bases = {w: b for w, b in bases.items() if b is not None}
    for w in world_list:
        if w not in bases:
            Console(stderr=True).print(
                f"[yellow]{w}[/]: no shipped {preset} base; training one per seed"
            )
    run_study(out, preset, seeds, world_list, proxies.split(","), device, jobs=jobs, bases=bases)
    make_all(out, out / "figures")
    Console(stderr=True).print(
        f"study finished in {time.perf_counter() - t0:.0f}s; figures in {out / 'figures'}"
    )
