"""`sgt-probe compare base.pt tuned.pt [...] --out report/`, or model directories:
`sgt-probe compare base/ tuned/ --world shapes --out report/`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sgt_probe.cli import UserError, app
from sgt_probe.cli.options import (
    Checkpoints,
    Device,
    FolderPath,
    ModelImageSize,
    ModelWorld,
    Seed,
    model_world,
    out_dir,
    scene_side,
    scenes_fit,
)
from sgt_probe.compare import PROBE_FOLDS
from sgt_probe.report.schema import SUITES

# Sequences per hooked forward: each holds every layer's attention pattern at once (T x T per
# head), and no suite has more than a few hundred sequences to batch.
MAX_BATCH = 4096


def _suites(value: str) -> str:
    """--suites: a comma-separated list of known suites, at least one."""
    chosen = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        raise typer.BadParameter(f"unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}")
    if not chosen:
        raise typer.BadParameter(f"no suite to run; choose from {', '.join(SUITES)}")
    return value


def check_replaceable(out: Path, checkpoints: list[Path], force: bool) -> None:
    """A rerun may rewrite the report of the same checkpoints in --out; a report of other
    checkpoints (or one that cannot be read) is only replaced with --force."""
    from sgt_probe.report.format import REPORT_JSON

    report = out / REPORT_JSON
    if force or not report.exists():
        return
    try:
        old = [Path(c["path"]).resolve() for c in json.loads(report.read_text())["checkpoints"]]
    except (OSError, ValueError, KeyError, TypeError):  # unreadable: not ours to overwrite
        old = None
    if old != [p.resolve() for p in checkpoints]:
        raise UserError(
            f"{report} is a report of other checkpoints; pass --force to replace it or choose "
            "another --out"
        )


def _report_left(out: Path, since: int) -> str:
    """What `out` holds of a compare that started at `since` (ns) and stopped: report.json and
    arrays.npz are replaced together (report.format.write_report), report.html after them."""
    from sgt_probe.report.format import REPORT_HTML, REPORT_JSON

    def new(name: str) -> bool:
        return (out / name).exists() and (out / name).stat().st_mtime_ns >= since

    if new(REPORT_HTML):
        return f"the new report is written in {out}"
    if new(REPORT_JSON):
        return f"the new report is written in {out}, its {REPORT_HTML} not yet"
    if (out / REPORT_JSON).exists():
        return f"the report in {out} is the one it held before"
    return f"no report was written in {out}"


@app.command()
def compare(
    checkpoints: Checkpoints,
    out: Annotated[Path, typer.Option(callback=out_dir, help="report directory to write")] = Path(
        "report"
    ),
    force: Annotated[
        bool, typer.Option(help="replace a report of other checkpoints in --out")
    ] = False,
    n_scenes: Annotated[
        int,
        typer.Option(
            min=1,
            help="held-out scenes for the benchmarks (proxy quality, attention "
            "and knockout read the first 128 / 64 of them)",
        ),
    ] = 512,  # CompareConfig.n_scenes (not imported: parsing imports no training stack)
    n_probe_scenes: Annotated[
        int, typer.Option(min=2, help="held-out scenes whose patches probes see")
    ] = 160,  # CompareConfig.n_probe_scenes
    seed: Seed = 0,
    device: Device = None,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1, max=MAX_BATCH, help="sequences per hooked forward (capture, attention)"
        ),
    ] = 32,
    suites: Annotated[
        str,
        typer.Option(
            callback=_suites,
            help="comma-separated analyses to run (default all): " + ", ".join(SUITES),
        ),
    ] = ",".join(SUITES),
    generation: Annotated[
        bool, typer.Option(help="draw and judge generations in the benchmarks (the slow part)")
    ] = True,
    world: ModelWorld = None,
    path: FolderPath = None,
    image_size: ModelImageSize = None,
) -> None:
    """Eval (paired), capture, probes, attention statistics, CKA and knockouts on the same items."""
    spec = model_world(world, path, image_size)
    chosen = [s.strip() for s in suites.split(",") if s.strip()]
    if "probes" in chosen and n_probe_scenes < 2 * PROBE_FOLDS:
        raise typer.BadParameter(
            f"{n_probe_scenes} is too few for the probes, which fit on half of these scenes "
            f"with {PROBE_FOLDS}-fold cross-validation grouped by scene: give at least "
            f"{2 * PROBE_FOLDS}", param_hint="'--n-probe-scenes'"
        )  # fmt: skip
    check_replaceable(out, checkpoints, force)
    from sgt_probe.model.loading import read_checkpoint
    from sgt_probe.sources.hfdir import read_sidecar

    # every file is checked before minutes of analysis start (a model directory was checked
    # while parsing)
    records = [(read_sidecar if c.is_dir() else read_checkpoint)(c) for c in checkpoints]
    side = scene_side(spec, records)
    scenes_fit("--n-scenes", n_scenes, side)
    scenes_fit("--n-probe-scenes", n_probe_scenes, side)
    from sgt_probe.compare.run import CompareConfig, run_compare
    from sgt_probe.device import default_device
    from sgt_probe.viz.html import write_html
    from sgt_probe.viz.tables import print_report

    cfg = CompareConfig(n_scenes=n_scenes, n_probe_scenes=n_probe_scenes, seed=seed,
                        device=device or default_device(), batch_size=batch_size,
                        suites=tuple(chosen), generation=generation)  # fmt: skip
    t0, started = time.perf_counter(), time.time_ns()
    try:
        report = run_compare(checkpoints, out, cfg, spec=spec)
        write_html(out)
    except BaseException as e:  # an interrupt: whether --out holds the new report is said too
        e.add_note(_report_left(out, started))
        raise
    print_report(report)
    Console(stderr=True).print(f"wrote {out}/ in {time.perf_counter() - t0:.1f}s; "
                               f"open it with: sgt-probe dash {out}")  # fmt: skip
