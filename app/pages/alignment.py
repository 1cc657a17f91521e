"""Reading and drawing: do the two paths share one representation? Cross-path CKA, probe
transfer between the paths and a logit lens on image tokens, by layer, for every checkpoint."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from sgt_probe.app import data, ids
from sgt_probe.app.components import control, graph, guarded
from sgt_probe.viz import views

dash.register_page(__name__, path="/alignment", name="Reading vs drawing", order=6)

layout = html.Div(
    [
        html.H2("Reading and drawing: one representation?"),
        html.P(
            "The same held-out scenes, read (the image through the patch encoder) and drawn "
            "(the scene's codes teacher-forced after its prompt), compared patch by patch at "
            "each layer: how similar the two paths' states are (CKA), whether an object-class "
            "probe fitted on one path reads the other, and whether the states already lean "
            "toward the patch's class word under the model's own unembedding (logit lens).",
            className="hint",
        ),
        html.Div(id=ids.ALN_NOTE),
        html.Div(
            [
                graph(ids.ALN_CKA),
                html.Div(
                    [
                        control(
                            "probe",
                            dcc.Dropdown(
                                id=ids.ALN_DIRECTION,
                                options=[
                                    {"label": v, "value": k} for k, v in views.TRANSFER.items()
                                ],
                                value="read_to_draw",
                                clearable=False,
                            ),
                            wide=True,
                        ),
                        graph(ids.ALN_TRANSFER),
                    ]
                ),
            ],
            className="two-col",
        ),
        html.Div(
            [
                control(
                    "lens words",
                    dcc.Dropdown(
                        id=ids.ALN_LENS_TARGET,
                        options=[{"label": v, "value": k} for k, v in views.LENS_WORDS.items()],
                        value="semantic_class",
                        clearable=False,
                    ),
                ),
                control(
                    "path",
                    dcc.RadioItems(
                        id=ids.ALN_LENS_PATH,
                        options=[{"label": v, "value": k} for k, v in views.PATHS.items()],
                        value="read",
                        inline=True,
                    ),
                    wide=True,
                ),
            ],
            className="controls",
        ),
        graph(ids.ALN_LENS),
    ]
)


@callback(
    Output(ids.ALN_NOTE, "children"),
    Output(ids.ALN_CKA, "figure"),
    Input(ids.REPORT, "value"),
)
@guarded()
def cka(key):
    report = data.get(key).data
    note = views.alignment_note(report)
    return (html.P(note, className="hint") if note else ""), views.cross_path_cka(report)


@callback(
    Output(ids.ALN_TRANSFER, "figure"),
    Input(ids.REPORT, "value"),
    Input(ids.ALN_DIRECTION, "value"),
)
@guarded(note=False)
def transfer(key, direction):
    return views.probe_transfer(data.get(key).data, direction)


@callback(
    Output(ids.ALN_LENS, "figure"),
    Input(ids.REPORT, "value"),
    Input(ids.ALN_LENS_TARGET, "value"),
    Input(ids.ALN_LENS_PATH, "value"),
)
@guarded(note=False)
def lens(key, target, path):
    return views.logit_lens(data.get(key).data, target, path)
