"""Overview: which checkpoints are compared, their benchmark scores, the paired deltas, and the
proxy table when several proxies are compared."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, html

from sgt_probe.app import data, ids
from sgt_probe.app.components import graph, guarded, table
from sgt_probe.report.schema import SUITES
from sgt_probe.viz import figures, views

dash.register_page(__name__, path="/", name="Overview", order=0)

layout = html.Div(
    [
        html.H2("Overview"),
        html.Div(id=ids.OV_NOTE),
        html.Div(id=ids.OV_CHECKPOINTS),
        graph(ids.OV_SCORES, 420),
        graph(ids.OV_DELTAS, 420),
        html.Div(id=ids.OV_PROXY),
    ]
)


@callback(
    Output(ids.OV_NOTE, "children"),
    Output(ids.OV_CHECKPOINTS, "children"),
    Output(ids.OV_SCORES, "figure"),
    Output(ids.OV_DELTAS, "figure"),
    Output(ids.OV_PROXY, "children"),
    Input(ids.REPORT, "value"),
)
@guarded()
def render(key):
    report = data.get(key)
    names = report.names
    colors = figures.checkpoint_colors(names)
    swatches = [
        html.Span(n, className="chip", style={"borderColor": colors[n], "color": colors[n]})
        for n in names
    ]
    columns = ("name", "proxy", "seed", "step", "path")
    not_run = [s for s in SUITES if s not in report.data.suites]
    checkpoints = html.Div(
        [
            html.P([f"{len(names)} checkpoints compared, reference first: ", *swatches]),
            table([{k: getattr(c, k) for k in columns} for c in report.data.checkpoints]),
            html.P(
                f"Suites run: {', '.join(report.data.suites)}"
                + (
                    f"; not run: {', '.join(not_run)} (sgt-probe compare --suites)."
                    if not_run
                    else "."
                ),
                className="hint",
            ),
            # what the world could not support (a folder world: generation, the color probe)
            *(
                html.P(f"{what} skipped: {why}.", className="hint")
                for what, why in report.data.skipped.items()
            ),
        ]
    )
    proxy = []
    if views.n_proxies(report.data) > 1:
        proxy = [
            html.H3("Proxies compared (proxy-task quality: higher is better)"),
            table(views.proxy_rows(report.data), {"reconstruction_psnr": ".1f"}),
        ]
    return "", checkpoints, views.scores(report.data), views.deltas(report.data), proxy
