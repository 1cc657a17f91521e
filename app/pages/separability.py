"""Separability: linear-probe accuracy and selectivity by layer, a label-free score, and CKA
between the reference and each tuned checkpoint."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from sgt_probe.app import data, ids
from sgt_probe.app.components import control, graph, guarded
from sgt_probe.report.schema import PROBE_TARGETS
from sgt_probe.viz import views

dash.register_page(__name__, path="/separability", name="Separability", order=1)

layout = html.Div(
    [
        html.H2("Linear separability of image-token states"),
        html.Div(id=ids.SEP_NOTE),
        html.Div(
            control(
                "probe target",
                dcc.Dropdown(
                    id=ids.SEP_TARGET,
                    options=list(PROBE_TARGETS),
                    value=PROBE_TARGETS[0],
                    clearable=False,
                ),
            ),
            className="controls",
        ),
        html.Div([graph(ids.SEP_ACCURACY), graph(ids.SEP_SELECTIVITY)], className="two-col"),
        html.Div(
            [
                html.Div(
                    [
                        dcc.RadioItems(
                            id=ids.SEP_LABEL_FREE_KIND,
                            options=[
                                {"label": f"{v[0]} ({v[1]})", "value": k}
                                for k, v in views.LABEL_FREE.items()
                            ],
                            value="fisher",
                            inline=True,
                        ),
                        graph(ids.SEP_LABEL_FREE),
                    ]
                ),
                graph(ids.SEP_CKA),
            ],
            className="two-col",
        ),
    ]
)


@callback(
    Output(ids.SEP_NOTE, "children"),
    Output(ids.SEP_ACCURACY, "figure"),
    Output(ids.SEP_SELECTIVITY, "figure"),
    Input(ids.REPORT, "value"),
    Input(ids.SEP_TARGET, "value"),
)
@guarded()
def probes(key, target):
    report = data.get(key).data
    note = html.P(views.probe_note(report, target), className="hint")
    return note, views.probe_accuracy(report, target), views.probe_selectivity(report, target)


@callback(
    Output(ids.SEP_LABEL_FREE, "figure"),
    Output(ids.SEP_CKA, "figure"),
    Input(ids.REPORT, "value"),
    Input(ids.SEP_LABEL_FREE_KIND, "value"),
)
@guarded(note=False)
def label_free_and_cka(key, kind):
    report = data.get(key).data
    return views.label_free(report, kind), views.cka(report)
