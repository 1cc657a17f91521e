"""`sgt-probe reproduce`: the SGT reproduction study (all proxies x seeds x worlds), resumable.

Layout: OUT/<world>/seed<k>/{base,<proxy>}.pt and OUT/<world>/seed<k>/report/, then the
analyses/ figures under OUT/figures/. Every finished checkpoint or report is reused.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sgt_probe.cli import app
from sgt_probe.report.format import UMAP_PAIR

# only the UMAP figure's pair: embedding every checkpoint costs about a minute per report
EMBED = UMAP_PAIR


def run_study(out: Path, preset: str, seeds: int, worlds: list[str], proxies: list[str],
              device: str, compare_overrides: dict | None = None) -> list[Path]:  # fmt: skip
    """Train, tune and compare every (world, seed); return the report dirs.

    compare_overrides: CompareConfig fields for every report (tests shrink them).
    """
    from sgt_probe.compare.html import write_html
    from sgt_probe.compare.run import CompareConfig, run_compare
    from sgt_probe.data.spec import DataSpec
    from sgt_probe.report.format import is_current
    from sgt_probe.tuning.runner import train_base, tune

    console = Console(stderr=True)
    reports = []
    for world in worlds:
        for seed in range(seeds):
            run = out / world / f"seed{seed}"
            console.rule(f"[bold]{world}[/] seed {seed}")
            base = run / "base.pt"
            train_base(DataSpec(world=world, seed=seed), base, preset,
                       train_overrides={"seed": seed}, resume=True, device=device)  # fmt: skip
            ckpts = [base]
            for proxy in proxies:
                ckpts.append(run / f"{proxy}.pt")
                tune(base, proxy, ckpts[-1], {"seed": seed}, resume=True, device=device)
            report = run / "report"
            if not is_current(report, ckpts):
                cfg = CompareConfig(seed=seed, device=device, embed=EMBED,
                                    **(compare_overrides or {}))  # fmt: skip
                run_compare(ckpts, report, cfg)
                write_html(report)
            reports.append(report)
    return reports


@app.command()
def reproduce(
    out: Annotated[Path, typer.Option(help="study directory")] = Path("runs/repro"),
    preset: Annotated[str, typer.Option(help="tiny | small")] = "small",
    seeds: Annotated[int, typer.Option(help="seeds per world")] = 3,
    worlds: Annotated[str, typer.Option(help="comma-separated worlds")] = "shapes,digits",
    proxies: Annotated[str, typer.Option(help="comma-separated proxies")] = (
        "none,reconstruction,inpainting,edge,depth,segmentation"
    ),
    device: Annotated[
        str | None, typer.Option(help="cpu | cuda (default: cuda if present)")
    ] = None,
) -> None:
    """Run the whole study (every proxy, seed and world), then the analyses/ figures."""
    from analyses.make_all import make_all
    from sgt_probe.tuning.runner import default_device

    t0 = time.perf_counter()
    run_study(out, preset, seeds, worlds.split(","), proxies.split(","), device or default_device())
    make_all(out, out / "figures")
    Console(stderr=True).print(
        f"study finished in {time.perf_counter() - t0:.0f}s; figures in {out / 'figures'}"
    )
