"""Knockout: how much blocking text→image attention in a window of layers changes the
probability of the correct answer, per checkpoint."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, html

from sgt_probe.app import data, ids
from sgt_probe.app.components import graph, guarded
from sgt_probe.viz import views

dash.register_page(__name__, path="/knockout", name="Knockout", order=5)

layout = html.Div(
    [
        html.H2("Attention knockout"),
        html.P(
            "Text→image edges (text queries attending to image keys) are blocked in a window "
            "of layers around each centre layer; the plot shows the relative change in the "
            "probability of the correct answer, (p_new − p_base) / p_base. More negative = "
            "the model relies more on reading the image in that window.",
            className="hint",
        ),
        html.Div(id=ids.KO_NOTE),
        graph(ids.KO_CHANGE, 420),
    ]
)


@callback(
    Output(ids.KO_NOTE, "children"),
    Output(ids.KO_CHANGE, "figure"),
    Input(ids.REPORT, "value"),
)
@guarded()
def render(key):
    return "", views.knockout(data.get(key).data)
