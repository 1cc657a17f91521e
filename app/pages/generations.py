"""Generations: each prompt with the image every checkpoint generated and the evaluator's
verdict, filterable by family and by what tuning fixed or broke."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from sgt_probe.app import data, ids
from sgt_probe.app.components import control, guarded, png_uri
from sgt_probe.report.format import ReportError
from sgt_probe.viz import figures

dash.register_page(__name__, path="/generations", name="Generations", order=4)

MAX_CARDS = 60  # enough to browse; more would make the page slow to paint

layout = html.Div(
    [
        html.H2("Generations"),
        html.Div(id=ids.GEN_NOTE),
        html.Div(
            [
                control("family", dcc.Dropdown(id=ids.GEN_FAMILY, clearable=False)),
                control(
                    "show",
                    dcc.Dropdown(
                        id=ids.GEN_STATUS,
                        options=[{"label": v, "value": k} for k, v in data.STATUSES.items()],
                        value=data.ALL,
                        clearable=False,
                    ),
                    wide=True,
                ),
                control("tuned checkpoint", dcc.Dropdown(id=ids.GEN_AGAINST, clearable=False)),
            ],
            className="controls",
        ),
        html.P(id=ids.GEN_COUNT, className="hint"),
        html.Div(id=ids.GEN_GRID, className="gen-grid"),
    ]
)


@callback(
    Output(ids.GEN_NOTE, "children"),
    Output(ids.GEN_FAMILY, "options"),
    Output(ids.GEN_FAMILY, "value"),
    Output(ids.GEN_AGAINST, "options"),
    Output(ids.GEN_AGAINST, "value"),
    Input(ids.REPORT, "value"),
)
@guarded()
def setup(key):
    report = data.get(key)
    items = report.need("benchmarks").generations.items
    if why := report.data.skipped.get("generation"):  # a folder world: nothing was drawn
        raise ReportError(f"{report.path}: generation skipped: {why}")
    data.generation_images(report)  # refuse now, with a note, if an image array is missing
    families = list(dict.fromkeys(i.family for i in items))
    family_options = [{"label": "all families", "value": data.ALL}]
    family_options += [{"label": f.replace("_", " "), "value": f} for f in families]
    tuned = report.names[1:] or report.names
    return "", family_options, data.ALL, tuned, tuned[0]


def _tile(label: str, image, color: str, verdict: bool | None) -> html.Figure:
    mark = "" if verdict is None else (" ✓" if verdict else " ✗")
    cls = "gen-img" + ("" if verdict is None else (" pass" if verdict else " fail"))
    return html.Figure(
        [
            html.Img(src=png_uri(image), className=cls, alt=label),
            html.Figcaption(label + mark, style={"color": color}),
        ]
    )


@callback(
    Output(ids.GEN_COUNT, "children"),
    Output(ids.GEN_GRID, "children"),
    Input(ids.REPORT, "value"),
    Input(ids.GEN_FAMILY, "value"),
    Input(ids.GEN_STATUS, "value"),
    Input(ids.GEN_AGAINST, "value"),
)
@guarded(note=False)
def cards(key, family, status, against):
    report = data.get(key)
    gens = report.need("benchmarks").generations
    images = data.generation_images(report)
    colors = figures.checkpoint_colors(report.names)
    keep = data.generation_indices(report, family, status, against)
    count = f"{len(keep)} of {len(gens.items)} prompts"
    if len(keep) > MAX_CARDS:
        count += f" (showing the first {MAX_CARDS})"
    out = []
    for i in keep[:MAX_CARDS]:
        item = gens.items[i]
        tiles = [_tile("ground truth", images["truth"][i], "#333", None)]
        tiles += [_tile(n, images[n][i], colors[n], gens.verdicts[n][i]) for n in report.names]
        out.append(
            html.Div(
                [
                    html.Div(
                        [
                            html.Span(item.family.replace("_", " "), className="badge"),
                            item.prompt,
                        ],
                        className="gen-prompt",
                    ),
                    html.Div(tiles, className="gen-images"),
                ],
                className="gen-card",
            )
        )
    return count, out
