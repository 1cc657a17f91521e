"""`sgt-probe demo`: the main job. Base -> two tunings -> compare -> headline + dashboard command.

The paper's comparison in small: the world's base tuned with segmentation and with `none` (the
same steps on the dialogues alone) under the paper's recipe, then all three compared. The base
is the world's shipped one (sgt_probe/bases/) when there is one: training a competent base
takes hours. --train-base trains it instead. The tunings run DEMO_STEPS steps, under half of
the study's 800, so the demo fits ten minutes on a 2-core CPU; `reproduce` runs the study's.

Its jobs run on Ray, as `reproduce`'s do (sgt_probe.pipeline; docs/ray.md). Every finished
step is reused on a rerun (checkpoints resume, the report is rebuilt only when a checkpoint is
newer than it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sgt_probe.cli import UserError, app
from sgt_probe.cli.options import (
    Address,
    Device,
    GeneratedWorld,
    GpusPerJob,
    Jobs,
    Preset,
    Seed,
    out_dir,
)

DEMO_PROXIES = ("segmentation", "none")
DEMO_STEPS = 300


@app.command()
def demo(
    out: Annotated[Path, typer.Option(callback=out_dir, help="run directory")] = Path("runs/demo"),
    preset: Preset = "small",
    world: GeneratedWorld = "shapes",
    seed: Seed = 0,
    device: Device = None,
    jobs: Jobs = None,
    train_base: Annotated[
        bool, typer.Option(help="train the base instead of using the shipped one (hours)")
    ] = False,
    steps: Annotated[
        int, typer.Option(min=1, max=100_000, help="steps of each tuning (the study's: 800)")
    ] = DEMO_STEPS,
    address: Address = None,
    gpus_per_job: GpusPerJob = None,
) -> None:
    """Tune the world's base with segmentation and with none (the paper's recipe), then compare
    the three."""
    from sgt_probe.bases import shipped_base
    from sgt_probe.device import default_device
    from sgt_probe.model.config import PresetOverrides, TrainConfig
    from sgt_probe.pipeline import Run, run_pipeline, tunings
    from sgt_probe.report.format import load_report_data
    from sgt_probe.viz.tables import print_report

    console = Console(stderr=True)
    device = device or default_device()
    if gpus_per_job is not None and not device.startswith("cuda"):
        raise UserError("--gpus-per-job shares a GPU: it goes with --device cuda")
    t0 = time.perf_counter()
    shipped = None if train_base else shipped_base(world, preset)
    run = Run(out, world, seed, preset, tunings(DEMO_PROXIES), base_from=shipped,
              overrides=PresetOverrides(tune=TrainConfig.overrides(steps=steps)))  # fmt: skip
    origin = f"shipped {shipped.name}" if shipped else f"{preset} base trained"
    console.rule(f"[bold]demo[/]: {origin} on {world}, tuned {steps} steps with "
                 f"{' and '.join(DEMO_PROXIES)}")  # fmt: skip
    run_pipeline([run], device, jobs, address, gpus_per_job)
    print_report(load_report_data(run.report))
    console.print(f"demo finished in {time.perf_counter() - t0:.0f}s")
    console.print(f"open the dashboard with:  [bold]sgt-probe dash {run.report}[/]")
