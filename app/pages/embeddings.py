"""Embeddings: UMAP of image-token hidden states at one layer, base and tuned side by side,
colored by semantic class, color or depth; hovering a point shows the patch it came from."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html
from dash.exceptions import PreventUpdate

from sgt_probe.app import data, ids
from sgt_probe.app.components import control, graph, guarded, png_uri
from sgt_probe.report.format import EMBED_IMAGES, key_embed_meta
from sgt_probe.report.schema import EMBED_COLOR_BY
from sgt_probe.viz import figures, views

dash.register_page(__name__, path="/embeddings", name="Embeddings", order=3)

layout = html.Div(
    [
        html.H2("Image-token embeddings (UMAP)"),
        html.Div(id=ids.EMB_NOTE),
        html.Div(
            [
                control("layer", dcc.Dropdown(id=ids.EMB_LAYER, clearable=False)),
                control(
                    "checkpoints", dcc.Dropdown(id=ids.EMB_CHECKPOINTS, multi=True, clearable=False)
                ),
                control(
                    "color by",
                    dcc.RadioItems(
                        id=ids.EMB_COLOR_BY,
                        options=list(EMBED_COLOR_BY),
                        value="class",
                        inline=True,
                    ),
                ),
            ],
            className="controls",
        ),
        html.Div(
            [
                graph(ids.EMB_SCATTER, 500),
                html.Div(
                    html.P("Hover a point to see its patch.", className="hint"),
                    id=ids.EMB_HOVER,
                    className="hover-panel",
                ),
            ],
            className="scatter-row",
        ),
    ]
)


@callback(
    Output(ids.EMB_NOTE, "children"),
    Output(ids.EMB_LAYER, "options"),
    Output(ids.EMB_LAYER, "value"),
    Output(ids.EMB_CHECKPOINTS, "options"),
    Output(ids.EMB_CHECKPOINTS, "value"),
    Input(ids.REPORT, "value"),
)
@guarded()
def setup(key):
    report = data.get(key)
    layers = report.need("embeddings").layers
    data.need(report, EMBED_IMAGES.key, key_embed_meta("sample"), key_embed_meta("patch"))
    options = [{"label": f"layer {layer}", "value": layer} for layer in layers]
    return "", options, layers[-1], report.embedded, report.embedded[:2]


@callback(
    Output(ids.EMB_SCATTER, "figure"),
    Input(ids.REPORT, "value"),
    Input(ids.EMB_LAYER, "value"),
    Input(ids.EMB_CHECKPOINTS, "value"),
    Input(ids.EMB_COLOR_BY, "value"),
)
@guarded(note=False)
def scatter(key, layer, names, color_by):
    if not names:
        return figures.placeholder("pick at least one checkpoint")
    report = data.get(key)
    return views.embeddings(report.data, report.arrays, names, layer, color_by)


@callback(
    Output(ids.EMB_HOVER, "children"),
    Input(ids.EMB_SCATTER, "hoverData"),
    Input(ids.REPORT, "value"),
)
@guarded(note=False)
def hover(hover_data, key):
    if not hover_data:
        raise PreventUpdate
    report = data.get(key)
    n = int(hover_data["points"][0]["customdata"])
    sample = int(report.arrays[key_embed_meta("sample")][n])
    patch = int(report.arrays[key_embed_meta("patch")][n])
    image = report.arrays[EMBED_IMAGES.key][sample]
    grid = report.data.model.grid
    meta = ", ".join(f"{k} {int(report.arrays[key_embed_meta(k)][n])}" for k in EMBED_COLOR_BY)
    return [
        html.Img(src=png_uri(figures.patch_crop(image, patch, grid)), className="patch-crop"),
        html.Img(src=png_uri(figures.patch_box(image, patch, grid)), className="patch-context"),
        html.P(f"image {sample}, patch {patch}: {meta}", className="hint"),
    ]
