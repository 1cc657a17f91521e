"""`sgt-probe demo`: the main job. Base -> three tunings -> compare -> headline + dashboard command.

Every finished step is reused on a rerun (checkpoints resume, the report is rebuilt only when a
checkpoint is newer than it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sgt_probe.cli import app

DEMO_PROXIES = ("segmentation", "none", "reconstruction")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="run directory")] = Path("runs/demo"),
    preset: Annotated[str, typer.Option(help="tiny | small")] = "tiny",
    world: Annotated[str, typer.Option(help="shapes | digits")] = "shapes",
    seed: int = 0,
    device: Annotated[
        str | None, typer.Option(help="cpu | cuda (default: cuda if present)")
    ] = None,
) -> None:
    """Train a base model, tune it with segmentation, none and reconstruction, compare them all."""
    from sgt_probe.compare.html import write_html
    from sgt_probe.compare.run import CompareConfig, run_compare
    from sgt_probe.compare.tables import print_report
    from sgt_probe.data.spec import DataSpec
    from sgt_probe.report.format import REPORT_JSON, is_current
    from sgt_probe.tuning.runner import default_device, train_base, tune

    console = Console(stderr=True)
    device = device or default_device()
    t0 = time.perf_counter()
    base = out / "base.pt"
    console.rule(f"[bold]1/3 base training[/] ({preset}, {world}) -> {base}")
    train_base(DataSpec(world=world, seed=seed), base, preset, train_overrides={"seed": seed},
               resume=True, device=device)  # fmt: skip
    tuned = []
    for proxy in DEMO_PROXIES:
        path = out / f"{proxy}.pt"
        console.rule(f"[bold]2/3 tuning[/] proxy={proxy} -> {path}")
        tune(base, proxy, path, {"seed": seed}, resume=True, device=device)
        tuned.append(path)
    report_dir = out / "report"
    ckpts = [base, *tuned]
    console.rule(f"[bold]3/3 compare[/] -> {report_dir}")
    if is_current(report_dir, ckpts):
        import json

        report = json.loads((report_dir / REPORT_JSON).read_text())
        console.print("report is newer than every checkpoint: reused")
    else:
        report = run_compare(ckpts, report_dir, CompareConfig(seed=seed, device=device))
        write_html(report_dir)
    print_report(report)
    console.print(f"demo finished in {time.perf_counter() - t0:.0f}s")
    console.print(f"open the dashboard with:  [bold]sgt-probe dash {report_dir}[/]")
