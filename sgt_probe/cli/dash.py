"""`sgt-probe dash REPORT_DIR...`: serve the dashboard over one or more report dirs."""

from __future__ import annotations

from pathlib import Path

import typer

from sgt_probe.cli import UserError, app


@app.command("dash")
def dash_command(
    reports: list[Path] = typer.Argument(
        ...,
        help="Report dirs written by `sgt-probe compare`, or study dirs (a folder holding "
        "study.json, or a `reproduce` output folder): their scorecard is the Study page.",
    ),
    host: str = typer.Option(
        "127.0.0.1",
        help="Interface to bind; anything but loopback exposes the dashboard to the network.",
    ),
    port: int = typer.Option(8050, min=1, max=65535, help="Port to serve on."),
    debug: bool = typer.Option(False, help="Dash debug mode (reloader and dev tools)."),
) -> None:
    """Serve a multi-page dashboard over REPORTS (pick one in the page when there are several)."""
    from sgt_probe.report.format import load_report
    from sgt_probe.report.study import STUDY_JSON, load_study

    report_dirs, study_dirs = [], []
    for r in reports:
        if not r.is_dir():
            raise UserError(f"{r}: no such report directory")
        # a study: study.json here, or in the figures/ folder `reproduce` writes it to
        study = next((d for d in (r, r / "figures") if (d / STUDY_JSON).is_file()), None)
        if study is not None:
            load_study(study)  # a study the page cannot read is refused now, in one line
            study_dirs.append(study)
        else:
            load_report(r)  # so is a report the pages cannot read, its arrays included
            report_dirs.append(r)
    # Imported here so that other commands do not pay for loading Dash.
    from sgt_probe.app.app import create_app

    create_app(report_dirs, study_dirs).run(host=host, port=port, debug=debug)
