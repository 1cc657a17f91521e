"""Separability: linear-probe accuracy and selectivity by layer, a label-free score, and CKA
between the reference and each tuned checkpoint."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from app import data, figures, ids
from app.components import control, graph, guarded
from app.figures import Series
from sgt_probe.report.format import PROBE_TARGETS

dash.register_page(__name__, path="/separability", name="Separability", order=1)

LABEL_FREE = {  # name, what it measures
    "fisher": ("Fisher ratio", "between- / within-class variance"),
    "silhouette": ("silhouette score", "−1 to 1"),
}

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
                                for k, v in LABEL_FREE.items()
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
    report = data.get(key)
    colors = figures.checkpoint_colors(report.names)
    per = {
        n: report.data["probes"][n][target]
        for n in report.names
        if target in report.data["probes"].get(n, {})
    }
    if not per:
        empty = figures.placeholder(f"no {target!r} probe in this report")
        return "", empty, empty
    layers = range(len(next(iter(per.values()))["accuracy"]))
    accuracy = {n: Series(layers, p["accuracy"], p["lo"], p["hi"]) for n, p in per.items()}
    selectivity = {
        n: Series(layers, p["selectivity"], hover=[f"control {c:.3f}" for c in p["control"]])
        for n, p in per.items()
    }
    what = target.replace("_", " ")
    return (
        "",
        figures.layer_lines(
            accuracy,
            colors,
            f"Probe accuracy for {what} by layer, 95% bootstrap CI (higher = more separable)",
            "held-out probe accuracy",
        ),
        figures.layer_lines(
            selectivity,
            colors,
            f"Selectivity for {what}: task − control accuracy (higher = more than memorised)",
            "selectivity (accuracy points)",
            hline=0,
        ),
    )


@callback(
    Output(ids.SEP_LABEL_FREE, "figure"),
    Output(ids.SEP_CKA, "figure"),
    Input(ids.REPORT, "value"),
    Input(ids.SEP_LABEL_FREE_KIND, "value"),
)
@guarded(note=False)
def label_free_and_cka(key, kind):
    report = data.get(key)
    colors = figures.checkpoint_colors(report.names)
    scores = report.data.get("label_free") or {}
    if scores:
        series = {
            n: Series(range(len(v[kind])), v[kind]) for n in report.names if (v := scores.get(n))
        }
        label_free = figures.layer_lines(
            series,
            colors,
            f"Label-free separability: {LABEL_FREE[kind][0]} (higher = more separable)",
            f"{LABEL_FREE[kind][0]} ({LABEL_FREE[kind][1]})",
        )
    else:
        label_free = figures.placeholder("no label-free scores in this report")
    pairs = report.data.get("cka") or []
    if pairs:
        # a pair takes the color of its tuned side, so it matches that checkpoint elsewhere
        series = {
            f"{p['a']} vs {p['b']}": Series(range(len(p["values"])), p["values"]) for p in pairs
        }
        pair_colors = {f"{p['a']} vs {p['b']}": colors[p["b"]] for p in pairs}
        cka = figures.layer_lines(
            series,
            pair_colors,
            "Debiased linear CKA to the reference by layer (1 = same representation)",
            "CKA",
        )
    else:
        cka = figures.placeholder("one checkpoint: no CKA")
    return label_free, cka
