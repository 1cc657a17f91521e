"""Study: the claims scorecard of a whole study (study.json from `sgt-probe reproduce`), each
tuning against its `none` control with every seed as a dot, the per-family changes, the scaling
and few-label curves and attention allocation by layer."""

from __future__ import annotations

from collections import defaultdict

import dash
import numpy as np
from dash import Input, Output, callback, dcc, html

from sgt_probe.app import data, ids
from sgt_probe.app.components import control, graph, guarded
from sgt_probe.report.study import SCORECARD_HEADERS, scorecard_rows
from sgt_probe.viz import study as figures

dash.register_page(__name__, path="/study", name="Study", order=6)

layout = html.Div(
    [
        html.H2("Study: the paper's claims, tested"),
        html.Div(
            control(
                "study", dcc.Dropdown(id=ids.STUDY_SELECT, options=[], clearable=False), wide=True
            ),
            className="controls",
        ),  # fmt: skip
        html.Div(id=ids.STUDY_NOTE),
        html.Div(id=ids.STUDY_SCORECARD),
        html.Div([graph(ids.STUDY_FOREST_U), graph(ids.STUDY_FOREST_G)], className="two-col"),
        graph(ids.STUDY_FAMILIES, 420),
        html.Div([graph(ids.STUDY_SCALING), graph(ids.STUDY_FEW_LABEL)], className="two-col"),
        html.Div([graph(ids.STUDY_ALLOC_LAYER), graph(ids.STUDY_ALLOC_WORDS)], className="two-col"),
        html.Div(id=ids.STUDY_LEAK),
    ]
)


@callback(
    Output(ids.STUDY_SELECT, "options"),
    Output(ids.STUDY_SELECT, "value"),
    Input(ids.STUDY_SELECT, "id"),
)
def options(_):
    dirs = data.study_dirs()
    return dirs, dirs[0] if dirs else None


def _scorecard(study) -> html.Table:
    """The scorecard, each verdict coloured (the text says it too)."""
    head = html.Thead(html.Tr([html.Th(h) for h in SCORECARD_HEADERS]))
    body = []
    for claim, cells in zip(study.claims, scorecard_rows(study), strict=True):
        tds = [html.Td(c.replace("**", "")) for c in cells]
        tds[-1] = html.Td(cells[-1].replace("**", ""),
                          className=f"verdict {claim.verdict.replace(' ', '-')}")  # fmt: skip
        body.append(html.Tr(tds))
    return html.Div([
        html.Table([head, html.Tbody(body)], className="table scorecard"),
        html.P(f"Verdict rule: {study.rule}", className="hint"),
        html.P(f"Intervals: {study.interval_method}", className="hint"),
    ])  # fmt: skip


def _leak(study) -> html.Div:
    """Per world and proxy: the map rate and the generation change vs none without maps."""
    by = defaultdict(list)
    for d in study.leak:
        if d.delta is not None:
            by[d.world, d.proxy, d.family].append(d.delta)
    gen = defaultdict(list)
    for d in study.deltas:
        if d.benchmark == "generation" and d.family == "overall" and d.recipe == study.recipe:
            gen[d.world, d.proxy].append(d.delta)
    keys = sorted({(w, p) for w, p, _ in by})
    if not keys:
        return html.Div()
    rows = [html.Tr([html.Td(w), html.Td(p),
                     html.Td(f"{np.mean(by[w, p, 'map_rate']):.3f}"),
                     html.Td(f"{np.mean(gen[w, p]):+.3f}" if gen[w, p] else "—"),
                     html.Td(f"{np.mean(by[w, p, 'overall_without_maps']):+.3f}"
                             if by[w, p, "overall_without_maps"] else "—")])
            for w, p in keys]  # fmt: skip
    head = ["world", "proxy", "scenes drawn as maps", "generation Δ vs none",
            "Δ without the map prompts"]  # fmt: skip
    return html.Div([
        html.H3("Proxy leak: scene prompts answered with a map"),
        html.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)],
                   className="table"),
    ])  # fmt: skip


@callback(
    Output(ids.STUDY_NOTE, "children"),
    Output(ids.STUDY_SCORECARD, "children"),
    Output(ids.STUDY_FOREST_U, "figure"),
    Output(ids.STUDY_FOREST_G, "figure"),
    Output(ids.STUDY_FAMILIES, "figure"),
    Output(ids.STUDY_SCALING, "figure"),
    Output(ids.STUDY_FEW_LABEL, "figure"),
    Output(ids.STUDY_ALLOC_LAYER, "figure"),
    Output(ids.STUDY_ALLOC_WORDS, "figure"),
    Output(ids.STUDY_LEAK, "children"),
    Input(ids.STUDY_SELECT, "value"),
)
@guarded()
def render(key):
    study = data.study(key)
    note = html.P(f"{len(study.reports)} reports; main recipe: {study.recipe}; written "
                  f"{study.created}.", className="hint")  # fmt: skip
    return (note, _scorecard(study), figures.forest(study, "understanding"),
            figures.forest(study, "generation"), figures.family_heatmap(study, "understanding"),
            figures.curve(study, "scaling"), figures.curve(study, "few-label"),
            figures.allocation(study, "text_image_change_pct"),
            figures.allocation(study, "object_share_change"), _leak(study))  # fmt: skip
