"""`sgt-probe reproduce`: the SGT reproduction study (all proxies x seeds x worlds, and the arms
the claims scorecard needs), resumable.

Layout: OUT/<world>/seed<k>/{base,<proxy>}.pt and OUT/<world>/seed<k>/report/ (the main arm),
OUT/<arm>/<world>/seed<k>/ (the others: `study_runs`), then the claims scorecard
(`analyses/claims.py`: study.json and its table) and the analyses/ figures under OUT/figures/. Every finished checkpoint or
report is reused.

Every seed of a world starts from the world's shipped base (sgt_probe/bases/), as the paper
post-trains one released model: the seed varies the tuning (batch order), not the base, so
the study's intervals leave base-training variance out. --train-bases trains one base per
seed instead (hours each on a CPU).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sgt_probe.cli import UserError, app
from sgt_probe.cli.options import (
    GENERATED_WORLDS,
    Address,
    Device,
    GpusPerJob,
    Jobs,
    Preset,
    Recipe,
    names_from,
    out_dir,
)
from sgt_probe.compare.config import CompareConfig
from sgt_probe.data.proxies import PROXIES
from sgt_probe.model.config import DEFAULT_RECIPE, RECIPES, PresetOverrides, TrainConfig
from sgt_probe.model.config import preset as preset_of
from sgt_probe.pipeline import Run, Tuning, run_pipeline, tunings
from sgt_probe.report.format import UMAP_PAIR
from sgt_probe.report.study import CLAIMS_MD

SGT = "segmentation"


ARMS = ("main", "sensitivity", "scaling", "few-label")
PROXY_BUDGETS = (256, 1024, 4096)  # distinct proxy scenes of the data-scaling arm
LABEL_BUDGETS = (64, 256, 1024)  # labelled scenes of the few-label arm

# A study's seeds: each is a run directory of a base, its tunings and a report, hours of CPU;
# a hundred would take months.
MAX_SEEDS = 100


def study_runs(out: Path, preset: str, seeds: int, worlds: list[str], proxies: list[str],
               compare: CompareConfig = CompareConfig(),
               overrides: PresetOverrides = PresetOverrides(),
               bases: dict[str, Path] | None = None, recipe: str = DEFAULT_RECIPE,
               arms: tuple[str, ...] = ("main",), arm_seeds: int = 1) -> list[Run]:  # fmt: skip
    """The study's runs: its base (`bases[world]` copied in, or trained), its tunings, compared
    in its own report. The main arm tunes every proxy by `recipe`, `seeds` times per world, at
    OUT/<world>/seed<k>; the other arms, `arm_seeds` times per world:

    - sensitivity (OUT/<other recipe>/...): every proxy by the other recipe;
    - scaling (OUT/scaling/...): segmentation on PROXY_BUDGETS distinct proxy scenes, compared
      with the main arm's segmentation (unlimited) and `none` of the same world and seed;
    - few-label (OUT/few-label/...): segmentation and `none`, each with the few-label family
      asked on LABEL_BUDGETS labelled scenes, for half the recipe's steps.

    The secondary arms compare benchmarks only (scaling and few-label without generations: they
    read understanding). `compare` and `overrides` shrink the comparisons and the preset (the
    tests)."""
    bases = bases or {}
    other = next(r for r in RECIPES if r != recipe)
    steps = overrides.tune.apply(preset_of(preset).recipe(recipe)).steps
    # only the UMAP figure's pair: embedding every checkpoint costs ~a minute a report
    main_compare = replace(compare, embed=UMAP_PAIR)
    bench = replace(compare, suites=("benchmarks",))
    runs = []

    def run(path, world, seed, tunings_, recipe_=recipe, compare_=main_compare, also=()):
        runs.append(Run(path, world, seed, preset, tunings_, recipe_, compare_, overrides,
                        bases.get(world), also))  # fmt: skip

    for world in worlds:
        for seed in range(seeds):
            run(out / world / f"seed{seed}", world, seed, tunings(proxies))
    for world in worlds:
        for seed in range(min(arm_seeds, seeds)):
            main = out / world / f"seed{seed}"
            if "sensitivity" in arms:
                run(out / other / world / f"seed{seed}", world, seed, tunings(proxies), other,
                    bench)  # fmt: skip
            if "scaling" in arms:
                budgets = tuple(Tuning(f"{SGT}-{b}", SGT, TrainConfig.overrides(proxy_scenes=b))
                                for b in PROXY_BUDGETS)  # fmt: skip
                run(out / "scaling" / world / f"seed{seed}", world, seed, budgets,
                    compare_=replace(bench, generation=False),
                    also=(main / f"{SGT}.pt", main / "none.pt"))  # fmt: skip
            if "few-label" in arms:
                labelled = tuple(Tuning(f"{p}-{n}", p, TrainConfig.overrides(
                                     few_label_scenes=n, steps=steps // 2))
                                 for n in LABEL_BUDGETS for p in (SGT, "none"))  # fmt: skip
                run(out / "few-label" / world / f"seed{seed}", world, seed, labelled,
                    compare_=replace(bench, generation=False))  # fmt: skip
    return runs


def run_study(out: Path, preset: str, seeds: int, worlds: list[str], proxies: list[str],
              device: str, compare: CompareConfig = CompareConfig(),
              overrides: PresetOverrides = PresetOverrides(),
              jobs: int | None = None, bases: dict[str, Path] | None = None,
              recipe: str = DEFAULT_RECIPE, arms: tuple[str, ...] = ("main",),
              arm_seeds: int = 1, address: str | None = None,
              gpus_per_job: float | None = None) -> list[Path]:  # fmt: skip
    """Tune and compare every run of the study (`study_runs`) on Ray (`run_pipeline`: a Ray
    started here, or the cluster at `address`); return the report dirs."""
    runs = study_runs(out, preset, seeds, worlds, proxies, compare, overrides, bases, recipe,
                      arms, arm_seeds)  # fmt: skip
    run_pipeline(runs, device, jobs, address, gpus_per_job)
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
    address: Address = None,
    gpus_per_job: GpusPerJob = None,
    train_bases: Annotated[
        bool, typer.Option(help="train one base per seed instead of the shipped ones (hours)")
    ] = False,
    recipe: Recipe = DEFAULT_RECIPE,
    arms: Annotated[
        str, typer.Option(callback=names_from(ARMS), help="comma-separated arms (main always runs)")
    ] = ",".join(ARMS),
    arm_seeds: Annotated[
        int, typer.Option(min=1, help="seeds per world of the arms besides the main one")
    ] = 1,
) -> None:
    """Run the whole study (every proxy, seed and world, and the secondary arms), then the
    claims scorecard and the analyses/ figures."""
    from sgt_probe.analyses.make_all import make_all
    from sgt_probe.bases import shipped_base
    from sgt_probe.device import default_device

    t0 = time.perf_counter()
    device = device or default_device()
    if gpus_per_job is not None and not device.startswith("cuda"):
        raise UserError("--gpus-per-job shares a GPU: it goes with --device cuda")
    world_list = worlds.split(",")
    bases = {} if train_bases else {w: shipped_base(w, preset) for w in world_list}
    bases = {w: b for w, b in bases.items() if b is not None}
    for w in world_list:
        if w not in bases:
            Console(stderr=True).print(
                f"[yellow]{w}[/]: no shipped {preset} base; training one per seed"
            )
    arm_list = tuple(a for a in arms.split(",") if a != "main")
    if {"scaling", "few-label"} & set(arm_list) and not {SGT, "none"} <= set(proxies.split(",")):
        raise UserError("--arms scaling and few-label compare segmentation with none: keep both "
                        "in --proxies")  # fmt: skip
    run_study(out, preset, seeds, world_list, proxies.split(","), device, jobs=jobs, bases=bases,
              recipe=recipe, arms=arm_list, arm_seeds=arm_seeds, address=address,
              gpus_per_job=gpus_per_job)  # fmt: skip
    make_all(out, out / "figures")
    Console(stderr=True).print(
        f"study finished in {time.perf_counter() - t0:.0f}s; scorecard in "
        f"{out / 'figures' / CLAIMS_MD}, figures in {out / 'figures'}"
    )
