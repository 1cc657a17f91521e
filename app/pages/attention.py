"""Attention explorer: where a question token looks in the image, base and tuned side by side,
layer by layer; which tokens read a clicked patch; attention mass and grounded precision."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from sgt_probe.app import data, ids
from sgt_probe.app.components import control, graph, guarded
from sgt_probe.report.format import EXPLORER_IMAGES, EXPLORER_INSTANCES, ReportError, key_attn
from sgt_probe.report.schema import MASS_KINDS
from sgt_probe.viz import figures, views

dash.register_page(__name__, path="/attention", name="Attention", order=2)

MEAN = -1  # the value meaning "average" for the token and head pickers


layout = html.Div(
    [
        html.H2("Attention explorer"),
        html.Div(id=ids.ATT_NOTE),
        html.Div(
            [
                control("sample", dcc.Dropdown(id=ids.ATT_SAMPLE, clearable=False)),
                control("head", dcc.Dropdown(id=ids.ATT_HEAD, clearable=False)),
                control(
                    "checkpoints", dcc.Dropdown(id=ids.ATT_CHECKPOINTS, multi=True, clearable=False)
                ),
            ],
            className="controls",
        ),
        html.Div(
            [
                html.Span("question token (query): ", className="label"),
                dcc.RadioItems(id=ids.ATT_TOKEN, inline=True, className="tokens"),
            ],
            className="token-row",
        ),
        html.Div(
            [
                html.Button("▶ play", id=ids.ATT_PLAY, n_clicks=0, className="play"),
                html.Div(
                    dcc.Slider(id=ids.ATT_LAYER, min=0, max=1, step=1, value=0),
                    className="slider",
                ),
                dcc.Interval(id=ids.ATT_TICK, interval=800, disabled=True),
            ],
            className="layer-row",
        ),
        graph(ids.ATT_OVERLAY, 460),
        html.P("Click a patch to see which question tokens read it.", className="hint"),
        dcc.Store(id=ids.ATT_PATCH),
        graph(ids.ATT_READERS, 120),
        html.Div(
            [
                html.Div(
                    [
                        dcc.Dropdown(
                            id=ids.ATT_MASS_KIND,
                            options=[
                                {"label": views.MASS_TITLES[k], "value": k} for k in MASS_KINDS
                            ],
                            value=MASS_KINDS[0],
                            clearable=False,
                        ),
                        graph(ids.ATT_MASS),
                    ]
                ),
                graph(ids.ATT_GROUNDED),
            ],
            className="two-col",
        ),
    ]
)


@callback(
    Output(ids.ATT_NOTE, "children"),
    Output(ids.ATT_SAMPLE, "options"),
    Output(ids.ATT_SAMPLE, "value"),
    Output(ids.ATT_HEAD, "options"),
    Output(ids.ATT_HEAD, "value"),
    Output(ids.ATT_CHECKPOINTS, "options"),
    Output(ids.ATT_CHECKPOINTS, "value"),
    Output(ids.ATT_LAYER, "max"),
    Output(ids.ATT_LAYER, "marks"),
    Output(ids.ATT_LAYER, "value"),
    Input(ids.REPORT, "value"),
)
@guarded()
def setup(key):
    report = data.get(key)
    samples = report.need("attention").explorer
    if not samples:
        why = report.data.skipped.get("attention explorer", "no samples in this report")
        raise ReportError(f"{report.path}: attention explorer skipped: {why}")
    data.need(report, EXPLORER_IMAGES.key, EXPLORER_INSTANCES.key)
    data.need(report, *(key_attn(n) for n in report.names))
    n_layers, n_heads = report.data.model.n_layers, report.data.model.n_heads
    sample_options = [
        {"label": f"#{s.index} ({s.family}): {s.question}", "value": i}
        for i, s in enumerate(samples)
    ]
    heads = [{"label": "mean over heads", "value": MEAN}]
    heads += [{"label": f"head {h}", "value": h} for h in range(n_heads)]
    step = max(1, n_layers // 16)
    marks = {i: f"L{i}" for i in range(0, n_layers, step)}
    return (
        "",
        sample_options,
        0,
        heads,
        MEAN,
        report.names,
        report.names[:2],
        n_layers - 1,
        marks,
        n_layers - 1,
    )


@callback(
    Output(ids.ATT_TOKEN, "options"),
    Output(ids.ATT_TOKEN, "value"),
    Input(ids.REPORT, "value"),
    Input(ids.ATT_SAMPLE, "value"),
)
@guarded(note=False)
def tokens(key, sample):
    tokens = data.get(key).need("attention").explorer[sample].tokens
    options = [{"label": "all tokens (mean)", "value": MEAN}]
    options += [{"label": t, "value": i} for i, t in enumerate(tokens)]
    return options, MEAN


@callback(
    Output(ids.ATT_OVERLAY, "figure"),
    Input(ids.REPORT, "value"),
    Input(ids.ATT_SAMPLE, "value"),
    Input(ids.ATT_TOKEN, "value"),
    Input(ids.ATT_HEAD, "value"),
    Input(ids.ATT_LAYER, "value"),
    Input(ids.ATT_CHECKPOINTS, "value"),
    Input(ids.ATT_PATCH, "data"),
)
@guarded(note=False)
def overlay(key, sample, token, head, layer, names, patch):
    report = data.get(key)
    if not names:
        return figures.placeholder("pick at least one checkpoint")
    s = report.need("attention").explorer[sample]
    maps = data.attention_maps(report, names, sample, layer, head, token)
    what = "all question tokens (mean)" if token == MEAN else f"“{s.tokens[token]}”"
    heads = "mean over heads" if head == MEAN else f"head {head}"
    return figures.attention_overlay(
        report.arrays[EXPLORER_IMAGES.key][sample],
        maps,
        report.data.model.patch_size,
        figures.checkpoint_colors(report.names),
        f"Text→image attention (query→key) from {what}, layer {layer}, {heads}",
        outline=figures.mask_outline(data.target_mask(report, sample)),
        patch=patch,
    )


@callback(
    Output(ids.ATT_PATCH, "data"),
    Input(ids.ATT_OVERLAY, "clickData"),
    State(ids.REPORT, "value"),
)
@guarded(note=False)
def pick_patch(click, key):
    if not click:
        raise PreventUpdate
    model = data.get(key).data.model
    point = click["points"][0]
    return data.patch_at(point["x"], point["y"], model.patch_size, model.grid)


@callback(
    Output(ids.ATT_READERS, "figure"),
    Input(ids.REPORT, "value"),
    Input(ids.ATT_SAMPLE, "value"),
    Input(ids.ATT_HEAD, "value"),
    Input(ids.ATT_LAYER, "value"),
    Input(ids.ATT_CHECKPOINTS, "value"),
    Input(ids.ATT_PATCH, "data"),
)
@guarded(note=False)
def readers(key, sample, head, layer, names, patch):
    if patch is None or not names:
        return figures.placeholder("click a patch in the image above", height=120)
    report = data.get(key)
    grid = report.data.model.grid
    weights = data.token_weights(report, names, sample, layer, head, patch)
    r, c = divmod(patch, grid)
    return figures.patch_readers(
        report.need("attention").explorer[sample].tokens,
        weights,
        figures.checkpoint_colors(report.names),
        f"Which question tokens read patch {patch} (row {r}, col {c}) at layer {layer}",
    )


@callback(
    Output(ids.ATT_MASS, "figure"),
    Output(ids.ATT_GROUNDED, "figure"),
    Input(ids.REPORT, "value"),
    Input(ids.ATT_MASS_KIND, "value"),
)
@guarded(note=False)
def by_layer(key, kind):
    report = data.get(key).data
    return views.attention_mass(report, kind), views.grounded(report)


@callback(
    Output(ids.ATT_TICK, "disabled"),
    Output(ids.ATT_PLAY, "children"),
    Input(ids.ATT_PLAY, "n_clicks"),
)
def play(n_clicks):
    playing = n_clicks % 2 == 1
    return not playing, "⏸ pause" if playing else "▶ play"


@callback(
    Output(ids.ATT_LAYER, "value", allow_duplicate=True),
    Input(ids.ATT_TICK, "n_intervals"),
    State(ids.ATT_LAYER, "value"),
    State(ids.ATT_LAYER, "max"),
    prevent_initial_call=True,
)
def advance(_, layer, last):
    return 0 if layer >= last else layer + 1
