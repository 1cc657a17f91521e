"""Pure figure builders: plain numbers and arrays in, a plotly Figure (or an image array) out.

Nothing here reads a report; views pick the numbers (or a report section) and pass them in,
so every builder can be tested without a browser. Builders take `colors` (checkpoint name -> color, from
`checkpoint_colors`) so that a checkpoint keeps one color on every page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sgt_probe.report.schema import CheckpointScores, Delta

TEMPLATE = "plotly_white"
# The reference checkpoint is drawn in neutral gray so that "base vs tuned" reads at a glance.
REFERENCE_COLOR = "#555555"
PALETTE = [c for c in px.colors.qualitative.D3 if c != "#7F7F7F"]
CATEGORY_PALETTE = px.colors.qualitative.Dark24
# Transparent where attention is low so the image stays visible under the overlay.
ATTENTION_SCALE = [
    [0.0, "rgba(255, 235, 0, 0)"],
    [0.35, "rgba(255, 170, 0, 0.45)"],
    [1.0, "rgba(215, 0, 30, 0.9)"],
]
OUTLINE_COLOR = "#00e5ff"


def checkpoint_colors(names: Sequence[str]) -> dict[str, str]:
    """Name -> color; the first name (the reference) is gray, the rest take the palette."""
    colors = {names[0]: REFERENCE_COLOR} if names else {}
    colors.update({n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names[1:])})
    return colors


def _rgba(color: str, alpha: float) -> str:
    h = color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"


def _style(fig: go.Figure, title: str, height: int = 380, subplots: bool = False) -> go.Figure:
    # Subplot titles sit where a top legend would go, so subplot figures put it below.
    legend = (
        {"orientation": "h", "y": -0.12, "yanchor": "top", "x": 0.5, "xanchor": "center"}
        if subplots
        else {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"}
    )
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        height=height,
        margin={"l": 60, "r": 20, "t": 80, "b": 90 if subplots else 50},
        legend=legend,
    )
    return fig


def placeholder(text: str, height: int = 200) -> go.Figure:
    """An empty figure that says why it is empty (instead of blank axes)."""
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, font={"size": 14, "color": "#666"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(template=TEMPLATE, height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def _pretty(family: str) -> str:
    return family.replace("_", " ")


BENCHMARK_TITLES = {
    "understanding": "understanding (CV-Bench analogue)",
    "generation": "generation (GenEval analogue)",
}


FLOOR_MARK = {"symbol": "line-ew", "size": 26, "line": {"width": 3, "color": "#222"}}


def score_bars(benchmarks: Mapping[str, CheckpointScores], colors: Mapping[str, str]) -> go.Figure:
    """Accuracy per family, one bar per checkpoint: name -> its benchmark scores. A black tick
    across a bar marks its floor, where the scores have one (what ignoring the input scores)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=list(BENCHMARK_TITLES.values()))
    floor_shown = False
    for col, bench in enumerate(BENCHMARK_TITLES, start=1):
        for name, scores in benchmarks.items():
            s = getattr(scores, bench)
            families = ["overall", *s.families]
            x = [_pretty(f) for f in families]
            fig.add_trace(
                go.Bar(
                    x=x,
                    y=[s.overall, *s.families.values()],
                    name=name,
                    marker_color=colors[name],
                    legendgroup=name,
                    offsetgroup=name,
                    showlegend=col == 1,
                    hovertemplate=f"{name}<br>%{{x}}: %{{y:.3f}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
            if s.floor is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[s.floor.overall, *(s.floor.families.get(f) for f in families[1:])],
                    mode="markers",
                    marker=FLOOR_MARK,
                    name="floor (input ignored)",
                    legendgroup="floor",
                    offsetgroup=name,
                    showlegend=not floor_shown,
                    hovertemplate=f"{name} floor<br>%{{x}}: %{{y:.3f}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
            floor_shown = True
    fig.update_yaxes(range=[0, 1], title_text="accuracy (higher is better)", col=1)
    fig.update_yaxes(range=[0, 1])
    fig.update_layout(barmode="group", scattermode="group")
    title = "Benchmark accuracy by family, floors marked (higher is better)"
    return _style(fig, title, 420, subplots=True)


def delta_dots(deltas: Sequence[Delta], colors: Mapping[str, str]) -> go.Figure:
    """Paired deltas (b - a) with their CIs, one color per b."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=list(BENCHMARK_TITLES.values()))
    others = list(dict.fromkeys(d.b for d in deltas))
    for col, bench in enumerate(BENCHMARK_TITLES, start=1):
        for b in others:
            rows = [d for d in deltas if d.benchmark == bench and d.b == b]
            if not rows:
                continue
            y = np.array([d.delta for d in rows], float)  # null -> nan
            fig.add_trace(
                go.Scatter(
                    x=[_pretty(d.family) for d in rows],
                    y=y,
                    mode="markers",
                    marker={"color": colors[b], "size": 9},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": np.array([d.hi for d in rows], float) - y,
                        "arrayminus": y - np.array([d.lo for d in rows], float),
                    },
                    name=f"{b} − {rows[0].a}",
                    legendgroup=b,
                    showlegend=col == 1,
                    hovertemplate=f"{b} − {rows[0].a}<br>%{{x}}: %{{y:+.3f}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.add_hline(y=0, line={"color": "#999", "dash": "dot"}, row=1, col=col)
    fig.update_yaxes(title_text="Δ accuracy, tuned − reference", col=1)
    fig.update_layout(scattermode="group")
    title = "Paired Δ vs the reference, 95% paired-bootstrap CI (> 0 = tuned better)"
    return _style(fig, title, 420, subplots=True)


@dataclass(frozen=True)
class Series:
    """One line: y over x, with an optional CI band [lo, hi] and hover text per point."""

    x: Sequence[float]
    y: Sequence[float]
    lo: Sequence[float] | None = None
    hi: Sequence[float] | None = None
    hover: Sequence[str] | None = None


def layer_lines(
    series: Mapping[str, Series],
    colors: Mapping[str, str],
    title: str,
    y_title: str,
    x_title: str = "layer",
    hline: float | None = None,
    hline_label: str = "",
) -> go.Figure:
    """One line per key of `series`, its CI drawn as a filled band in the line's color."""
    fig = go.Figure()
    for name, s in series.items():
        x = list(s.x)
        if s.lo is not None and s.hi is not None:
            fig.add_trace(
                go.Scatter(
                    x=x + x[::-1],
                    y=list(s.hi) + list(s.lo)[::-1],
                    mode="lines",
                    fill="toself",
                    fillcolor=_rgba(colors[name], 0.18),
                    line={"width": 0},
                    hoverinfo="skip",
                    legendgroup=name,
                    showlegend=False,
                    name=f"{name} 95% CI",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=list(s.y),
                mode="lines+markers",
                name=name,
                line={"color": colors[name], "width": 2},
                legendgroup=name,
                text=s.hover,
                hovertemplate=f"{name}<br>{x_title} %{{x}}<br>%{{y:.3f}}"
                + ("<br>%{text}" if s.hover else "")
                + "<extra></extra>",
            )
        )
    if hline is not None:
        fig.add_hline(
            y=hline,
            line={"color": "#999", "dash": "dot"},
            annotation_text=hline_label,
            annotation_position="bottom right",
        )
    fig.update_xaxes(title_text=x_title, dtick=1)
    fig.update_yaxes(title_text=y_title)
    return _style(fig, title)


def mask_outline(mask: np.ndarray) -> tuple[list, list]:
    """The boundary of a boolean [H, W] mask as line segments in pixel coordinates.

    Pixel (r, c) covers [c - 0.5, c + 0.5] x [r - 0.5, r + 0.5] (plotly's image convention);
    segments are separated by None so one scatter trace draws them all.
    """
    m = np.pad(np.asarray(mask, bool), 1)
    xs: list = []
    ys: list = []
    # edges between vertically adjacent pixels that differ: horizontal segments
    for r, c in zip(*np.nonzero(m[1:, 1:-1] != m[:-1, 1:-1]), strict=True):
        xs += [c - 0.5, c + 0.5, None]
        ys += [r - 0.5, r - 0.5, None]
    # edges between horizontally adjacent pixels that differ: vertical segments
    for r, c in zip(*np.nonzero(m[1:-1, 1:] != m[1:-1, :-1]), strict=True):
        xs += [c - 0.5, c - 0.5, None]
        ys += [r - 0.5, r + 0.5, None]
    return xs, ys


def _natural(label: str) -> list:
    """Sort key that puts "class 2" before "class 10"."""
    return [int(t) if t.lstrip("-").isdigit() else t for t in re.split(r"(-?\d+)", label)]


def _subplot_titles(fig: go.Figure, names: Sequence[str], colors: Mapping[str, str]) -> None:
    for ann, name in zip(fig.layout.annotations, names, strict=False):
        ann.font = {"color": colors[name], "size": 14}


def attention_overlay(
    image: np.ndarray,
    maps: Mapping[str, np.ndarray],
    patch_size: int,
    colors: Mapping[str, str],
    title: str,
    outline: tuple[list, list] | None = None,
    patch: int | None = None,
) -> go.Figure:
    """The image once per checkpoint, its [grid, grid] attention map as a heatmap on top.

    All panels share one color scale (0 to the largest weight shown) so they compare directly.
    """
    names = list(maps)
    grid = image.shape[0] // patch_size
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.03)
    zmax = max((float(np.max(m)) for m in maps.values()), default=1.0) or 1.0
    rows, cols = np.mgrid[:grid, :grid]
    cell = np.dstack([rows, cols, rows * grid + cols])
    for i, name in enumerate(names, start=1):
        fig.add_trace(go.Image(z=image, hoverinfo="skip"), row=1, col=i)
        fig.add_trace(
            go.Heatmap(
                z=np.asarray(maps[name], float),
                x0=(patch_size - 1) / 2,
                dx=patch_size,
                y0=(patch_size - 1) / 2,
                dy=patch_size,
                zmin=0,
                zmax=zmax,
                colorscale=ATTENTION_SCALE,
                showscale=i == len(names),
                colorbar={"title": {"text": "attention<br>weight", "side": "top"}},
                customdata=cell,
                hovertemplate=f"{name}<br>patch %{{customdata[2]}} (row %{{customdata[0]}}, "
                "col %{customdata[1]})<br>weight %{z:.3f}<extra></extra>",
            ),
            row=1,
            col=i,
        )
        if outline is not None:
            fig.add_trace(
                go.Scatter(
                    x=outline[0],
                    y=outline[1],
                    mode="lines",
                    line={"color": OUTLINE_COLOR, "width": 2},
                    name="named object (ground truth)",
                    legendgroup="outline",
                    showlegend=i == 1,
                    hoverinfo="skip",
                ),
                row=1,
                col=i,
            )
        if patch is not None:
            r, c = divmod(patch, grid)
            x0, y0 = c * patch_size - 0.5, r * patch_size - 0.5
            fig.add_shape(
                type="rect",
                x0=x0,
                y0=y0,
                x1=x0 + patch_size,
                y1=y0 + patch_size,
                line={"color": "#ffffff", "width": 2},
                row=1,
                col=i,
            )
    _subplot_titles(fig, names, colors)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(clickmode="event")
    return _style(fig, title, 460, subplots=True)


def patch_readers(
    tokens: Sequence[str], weights: Mapping[str, np.ndarray], colors: Mapping[str, str], title: str
) -> go.Figure:
    """How much each question token reads one patch: grouped bars, one group per token."""
    fig = go.Figure()
    labels = [f"{i}: {t}" for i, t in enumerate(tokens)]  # numbered: tokens can repeat
    for name, w in weights.items():
        fig.add_trace(
            go.Bar(x=labels, y=np.asarray(w, float), name=name, marker_color=colors[name])
        )
    fig.update_xaxes(title_text="question token (query)")
    fig.update_yaxes(title_text="attention weight on the patch (query→key)", rangemode="tozero")
    return _style(fig, title, height=340)


def embedding_scatter(
    coords: Mapping[str, np.ndarray],
    labels: Sequence[str],
    colors: Mapping[str, str],
    title: str,
) -> go.Figure:
    """UMAP points per checkpoint side by side, colored by `labels` (one per point).

    Each point carries its row index as customdata so a hover can look up its patch.
    """
    names = list(coords)
    labels = np.asarray(labels)
    categories = sorted(set(labels.tolist()), key=_natural)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.05)
    for i, name in enumerate(names, start=1):
        xy = np.asarray(coords[name])
        for k, cat in enumerate(categories):
            idx = np.nonzero(labels == cat)[0]
            fig.add_trace(
                go.Scatter(
                    x=xy[idx, 0],
                    y=xy[idx, 1],
                    mode="markers",
                    marker={"color": CATEGORY_PALETTE[k % len(CATEGORY_PALETTE)], "size": 6},
                    name=cat,
                    legendgroup=cat,
                    showlegend=i == 1,
                    customdata=idx.tolist(),  # a list: Dash passes only plain lists to hoverData
                    hovertemplate=f"{name}: {cat}<extra></extra>",
                ),
                row=1,
                col=i,
            )
    _subplot_titles(fig, names, colors)
    fig.update_xaxes(title_text="UMAP 1", showticklabels=False)
    fig.update_yaxes(title_text="UMAP 2", showticklabels=False, col=1)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(hovermode="closest")
    return _style(fig, title, 500, subplots=True)


def patch_box(image: np.ndarray, patch: int, grid: int, color=(255, 0, 255)) -> np.ndarray:
    """A copy of `image` with a one-pixel box around `patch` (row-major in the grid)."""
    out = np.array(image, copy=True)
    p = image.shape[0] // grid
    r, c = divmod(patch, grid)
    y0, x0, y1, x1 = r * p, c * p, (r + 1) * p - 1, (c + 1) * p - 1
    out[y0, x0 : x1 + 1] = out[y1, x0 : x1 + 1] = color
    out[y0 : y1 + 1, x0] = out[y0 : y1 + 1, x1] = color
    return out


def patch_crop(image: np.ndarray, patch: int, grid: int) -> np.ndarray:
    """The pixels of one patch."""
    p = image.shape[0] // grid
    r, c = divmod(patch, grid)
    return image[r * p : (r + 1) * p, c * p : (c + 1) * p]
