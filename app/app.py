"""The dashboard's entry point: `create_app(report_dirs)` builds the app; each page is a module
in pages/ with its own callbacks, and every page reads the report picked in the shell."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dash
from dash import dcc, html

from sgt_probe.app import data, ids

HERE = Path(__file__).parent


def create_app(report_dirs: Sequence[str | Path], study_dirs: Sequence[str | Path] = ()
               ) -> dash.Dash:  # fmt: skip
    """A Dash app over `report_dirs` (the first is shown first) and `study_dirs` (folders
    holding a study.json, which the Study page shows).

    Dash keeps pages and `@callback`s in process-wide registries, so build one app per process
    (tests build one per test, each serving before the next is built).
    """
    data.set_report_dirs(report_dirs, study_dirs)
    app = dash.Dash(
        __package__,  # page modules then import as sgt_probe.app.pages.<name>
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="sgt-probe",
    )
    app.layout = _shell(data.report_dirs())
    return app


def _shell(dirs: list[str]) -> html.Div:
    nav = html.Nav(
        [
            dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
            for page in dash.page_registry.values()
        ]
    )
    selector = html.Div(
        [
            html.Label("report", htmlFor=ids.REPORT),
            dcc.Dropdown(
                id=ids.REPORT,
                options=dirs,
                value=dirs[0] if dirs else None,
                clearable=False,
                className="report-dropdown",
            ),
        ],
        id=ids.REPORT_ROW,
        className="report-row",
        # one report needs no picker, but the dropdown stays: every page reads its value
        hidden=len(dirs) < 2,
    )
    header = html.Header([html.Span("sgt-probe", className="brand"), nav, selector])
    return html.Div([header, html.Main(dash.page_container)], className="shell")
