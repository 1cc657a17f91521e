"""Figures of a whole study (study.json): each tuning against its `none` control with every seed
as a dot, the per-family changes, the scaling and few-label curves, and allocation by layer.
Pure functions of a `report.study.Study`, as `viz.figures` builds from plain numbers."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy import stats

from sgt_probe.report.study import Study
from sgt_probe.viz.figures import PALETTE, _style, placeholder

# the paper's hierarchy, pixel level first (the order the forest plots read)
PROXY_ORDER = ("reconstruction", "inpainting", "edge", "depth", "segmentation")


def _color(proxy: str) -> str:
    return PALETTE[PROXY_ORDER.index(proxy) % len(PALETTE)] if proxy in PROXY_ORDER else "#555"


def _mean_ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval over seeds (the mean alone for one seed)."""
    x = np.asarray(values, dtype=float)
    m = float(x.mean())
    if len(x) < 2:
        return m, m, m
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return m, m - half, m + half


def _zero_lines(fig: go.Figure, n_panels: int, axis: str) -> None:
    """A dotted line at 0 on `axis` ("x": vertical, "y": horizontal) of each panel, set in one
    layout update (plotly's add_vline per subplot re-validates every shape each time)."""
    shapes = []
    for i in range(1, n_panels + 1):
        ref = "" if i == 1 else str(i)
        line = {"type": "line", "line": {"dash": "dot", "color": "#999"}}
        if axis == "x":
            shapes.append({**line, "xref": f"x{ref}", "yref": f"y{ref} domain", "x0": 0, "x1": 0,
                           "y0": 0, "y1": 1})  # fmt: skip
        else:
            shapes.append({**line, "yref": f"y{ref}", "xref": f"x{ref} domain", "y0": 0, "y1": 0,
                           "x0": 0, "x1": 1})  # fmt: skip
    fig.update_layout(shapes=shapes)


def forest(study: Study, benchmark: str, recipe: str | None = None) -> go.Figure:
    """Per world, each proxy's overall change vs `none` on `benchmark`: a dot per seed and the
    mean with its 95% t-interval over seeds."""
    recipe = recipe or study.recipe
    rows = [d for d in study.deltas if d.benchmark == benchmark and d.family == "overall"
            and d.recipe == recipe and d.delta is not None]  # fmt: skip
    if not rows:
        return placeholder(f"no {benchmark} changes in this study")
    worlds = sorted({d.world for d in rows})
    fig = make_subplots(1, len(worlds), subplot_titles=worlds, shared_yaxes=True)
    traces, cols = [], []
    for col, world in enumerate(worlds, start=1):
        for proxy in PROXY_ORDER:
            vals = [d.delta for d in rows if d.world == world and d.proxy == proxy]
            if not vals:
                continue
            m, lo, hi = _mean_ci(vals)
            traces.append(go.Scatter(x=vals, y=[proxy] * len(vals), mode="markers",
                                     marker={"color": _color(proxy), "size": 7, "opacity": 0.5},
                                     name=f"{proxy} seeds", showlegend=False,
                                     hovertemplate="%{x:+.3f}<extra>seed</extra>"))  # fmt: skip
            traces.append(go.Scatter(x=[m], y=[proxy], mode="markers",
                                     marker={"color": _color(proxy), "size": 13,
                                             "symbol": "diamond"},
                                     error_x={"type": "data", "symmetric": False,
                                              "array": [hi - m], "arrayminus": [m - lo]},
                                     name=proxy, showlegend=False,
                                     hovertemplate="mean %{x:+.3f}<extra></extra>"))  # fmt: skip
            cols += [col, col]
    fig.add_traces(traces, rows=[1] * len(traces), cols=cols)
    _zero_lines(fig, len(worlds), "x")
    title = f"{benchmark.capitalize()} Δ vs none ({recipe} recipe): seeds as dots, mean ± 95% CI"
    return _style(fig, title, 380, subplots=True)


def family_heatmap(study: Study, benchmark: str) -> go.Figure:
    """Mean change vs `none` per family (rows) and proxy (columns), one panel per world."""
    rows = [d for d in study.deltas if d.benchmark == benchmark and d.recipe == study.recipe
            and d.family != "overall" and d.delta is not None]  # fmt: skip
    if not rows:
        return placeholder(f"no {benchmark} changes in this study")
    worlds = sorted({d.world for d in rows})
    families = list(dict.fromkeys(d.family for d in rows))
    proxies = [p for p in PROXY_ORDER if any(d.proxy == p for d in rows)]
    fig = make_subplots(1, len(worlds), subplot_titles=worlds, shared_yaxes=True)
    maps = []
    for col, world in enumerate(worlds, start=1):
        cell = defaultdict(list)
        for d in rows:
            if d.world == world:
                cell[d.family, d.proxy].append(d.delta)
        z = [[float(np.mean(cell[f, p])) if cell[f, p] else None for p in proxies]
             for f in families]  # fmt: skip
        maps.append(go.Heatmap(z=z, x=proxies, y=families, zmid=0, colorscale="RdBu",
                               texttemplate="%{z:+.2f}", showscale=col == len(worlds),
                               hovertemplate="%{y} / %{x}: %{z:+.3f}<extra></extra>"))  # fmt: skip
    fig.add_traces(maps, rows=[1] * len(maps), cols=list(range(1, len(maps) + 1)))
    return _style(fig, f"{benchmark.capitalize()} Δ vs none per family (mean over seeds)",
                  60 + 34 * len(families) + 120, subplots=True)  # fmt: skip


def curve(study: Study, which: str) -> go.Figure:
    """The scaling curve (segmentation's understanding Δ vs none by distinct proxy scenes) or
    the few-label curve (the family's accuracy with and without segmentation by labelled
    scenes); one line per world and arm, a dot per seed."""
    points = study.scaling if which == "scaling" else study.few_label
    if not points:
        return placeholder(f"no {which} runs in this study")
    fig = go.Figure()
    for i, key in enumerate(sorted({(p.world, p.arm) for p in points})):
        mine = [p for p in points if (p.world, p.arm) == key]
        xs = sorted({p.x for p in mine})
        ys = [float(np.mean([p.value for p in mine if p.x == x])) for x in xs]
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=" · ".join(key),
                                 line={"color": color}))  # fmt: skip
        fig.add_trace(go.Scatter(x=[p.x for p in mine], y=[p.value for p in mine],
                                 mode="markers", marker={"color": color, "opacity": 0.4},
                                 showlegend=False))  # fmt: skip
    fig.update_xaxes(type="log", title="distinct proxy scenes" if which == "scaling"
                     else "labelled scenes")  # fmt: skip
    title = ("Understanding Δ vs none by segmentation data" if which == "scaling" else
             "Few-label family accuracy with and without segmentation")  # fmt: skip
    fig.update_yaxes(title="Δ understanding" if which == "scaling" else "accuracy")
    return _style(fig, title, 380)


def allocation(study: Study, what: str) -> go.Figure:
    """Per layer, each proxy's `what` (text_image_change_pct or object_share_change) vs
    `none`, mean over seeds, one panel per world (the paper's Fig. 8)."""
    rows = [c for c in study.layers if c.what == what]
    if not rows:
        return placeholder("no allocation in this study's reports")
    worlds = sorted({c.world for c in rows})
    fig = make_subplots(1, len(worlds), subplot_titles=worlds, shared_yaxes=True)
    for col, world in enumerate(worlds, start=1):
        for c in sorted(
            (c for c in rows if c.world == world),
            key=lambda c: PROXY_ORDER.index(c.proxy) if c.proxy in PROXY_ORDER else 9,
        ):
            fig.add_trace(go.Scatter(x=list(range(len(c.values))), y=c.values,
                                     mode="lines+markers", name=c.proxy,
                                     line={"color": _color(c.proxy)}, showlegend=col == 1),
                          1, col)  # fmt: skip
        fig.add_hline(y=0, line_dash="dot", line_color="#999", row=1, col=col)
    fig.update_xaxes(title="layer")
    title = ("Text→image attention mass, % change vs none (Fig. 8a)"
             if what == "text_image_change_pct" else
             "Object words' share of generated-image attention to the prompt, Δ vs none "
             "(Fig. 8b)")  # fmt: skip
    return _style(fig, title, 380, subplots=True)
