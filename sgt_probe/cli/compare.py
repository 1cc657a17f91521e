"""`sgt-probe compare base.pt tuned.pt [...] --out report/`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sgt_probe.cli import app
from sgt_probe.report.schema import SUITES


@app.command()
def compare(
    checkpoints: Annotated[
        list[Path], typer.Argument(help="two or more checkpoints; the first is the reference")
    ],
    out: Annotated[Path, typer.Option(help="report directory to write")] = Path("report"),
    n_scenes: Annotated[int, typer.Option(help="held-out scenes for benchmarks/attention")] = 64,
    n_probe_scenes: Annotated[
        int, typer.Option(help="held-out scenes whose patches probes see")
    ] = 160,
    seed: int = 0,
    device: Annotated[
        str | None, typer.Option(help="cpu | cuda (default: cuda if present)")
    ] = None,
    suites: Annotated[
        str,
        typer.Option(help="comma-separated analyses to run (default all): " + ", ".join(SUITES)),
    ] = ",".join(SUITES),
) -> None:
    """Eval (paired), capture, probes, attention statistics, CKA and knockouts on the same items."""
    from sgt_probe.compare.run import CompareConfig, run_compare
    from sgt_probe.device import default_device
    from sgt_probe.viz.html import write_html
    from sgt_probe.viz.tables import print_report

    cfg = CompareConfig(n_scenes=n_scenes, n_probe_scenes=n_probe_scenes, seed=seed,
                        device=device or default_device(),
                        suites=tuple(s.strip() for s in suites.split(",") if s.strip()))  # fmt: skip
    t0 = time.perf_counter()
    report = run_compare(checkpoints, out, cfg)
    write_html(out)
    print_report(report)
    Console(stderr=True).print(f"wrote {out}/ in {time.perf_counter() - t0:.1f}s; "
                               f"open it with: sgt-probe dash {out}")  # fmt: skip
