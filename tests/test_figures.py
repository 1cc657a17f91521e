"""The figure builders (sgt_probe.viz.figures): plain inputs in, the expected traces out."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from sgt_probe.report.schema import CheckpointScores, Delta, Floor, Scores
from sgt_probe.viz import figures
from sgt_probe.viz.figures import Series

NAMES = ["base", "segmentation", "depth"]
COLORS = figures.checkpoint_colors(NAMES)


def test_checkpoint_colors_gray_reference_and_distinct_others():
    colors = figures.checkpoint_colors(NAMES)
    assert list(colors) == NAMES
    assert colors["base"] == figures.REFERENCE_COLOR
    assert len(set(colors.values())) == len(NAMES)
    # a checkpoint's color depends only on its position, so every page agrees
    assert figures.checkpoint_colors(NAMES) == colors
    assert figures.checkpoint_colors([]) == {}


def test_layer_lines_draws_the_ci_as_a_filled_band_behind_the_line():
    y, lo, hi = [0.5, 0.6, 0.7], [0.45, 0.55, 0.65], [0.55, 0.65, 0.75]
    fig = figures.layer_lines({"base": Series(range(3), y, lo, hi)}, COLORS, "t", "accuracy")
    band, line = fig.data
    assert band.fill == "toself" and band.mode == "lines" and not band.showlegend
    assert list(band.x) == [0, 1, 2, 2, 1, 0]
    assert list(band.y) == hi + lo[::-1]
    assert list(line.y) == y and line.line.color == COLORS["base"]
    assert fig.layout.yaxis.title.text == "accuracy"
    assert fig.layout.xaxis.title.text == "layer"


def test_layer_lines_without_ci_has_one_trace_per_series_and_a_reference_line():
    series = {n: Series([0, 1], [0.1, 0.2]) for n in NAMES}
    fig = figures.layer_lines(series, COLORS, "t", "y", hline=0.12, hline_label="chance")
    assert [t.name for t in fig.data] == NAMES
    assert fig.layout.shapes[0].y0 == 0.12


def test_mask_outline_traces_the_boundary_of_a_square():
    mask = np.zeros((6, 6), bool)
    mask[1:3, 2:4] = True  # a 2x2 square: 8 unit edges on its boundary
    xs, ys = figures.mask_outline(mask)
    assert len(xs) == len(ys) == 8 * 3
    points = {(x, y) for x, y in zip(xs, ys, strict=True) if x is not None}
    assert min(p[0] for p in points) == 1.5 and max(p[0] for p in points) == 3.5
    assert min(p[1] for p in points) == 0.5 and max(p[1] for p in points) == 2.5
    assert figures.mask_outline(np.zeros((4, 4), bool)) == ([], [])


def test_mask_outline_closes_at_the_image_border():
    xs, _ = figures.mask_outline(np.ones((2, 2), bool))
    assert len(xs) == 8 * 3  # the full perimeter of the image


def test_attention_overlay_one_panel_per_checkpoint_on_one_scale():
    image = np.zeros((16, 16, 3), np.uint8)
    maps = {"base": np.full((4, 4), 0.1), "segmentation": np.full((4, 4), 0.4)}
    outline = figures.mask_outline(np.eye(16, dtype=bool))
    fig = figures.attention_overlay(image, maps, 4, COLORS, "t", outline=outline, patch=5)
    kinds = [type(t).__name__ for t in fig.data]
    assert kinds == ["Image", "Heatmap", "Scatter"] * 2
    heatmaps = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert {h.zmax for h in heatmaps} == {0.4} and {h.zmin for h in heatmaps} == {0}
    assert [h.showscale for h in heatmaps] == [False, True]
    # heatmap cells sit on the patches: first centre at pixel 1.5, one patch apart
    assert heatmaps[0].x0 == 1.5 and heatmaps[0].dx == 4
    assert len(fig.layout.shapes) == 2  # the picked patch, boxed in both panels
    assert fig.layout.shapes[0].x0 == 4 - 0.5 and fig.layout.shapes[0].y0 == 4 - 0.5
    assert [a.text for a in fig.layout.annotations] == ["base", "segmentation"]
    assert fig.layout.annotations[1].font.color == COLORS["segmentation"]


def test_patch_readers_one_bar_trace_per_checkpoint_one_bar_per_token():
    tokens = ["how", "many", "red", "red"]
    weights = {"base": np.arange(4) / 10, "depth": np.ones(4) / 4}
    fig = figures.patch_readers(tokens, weights, COLORS, "t")
    assert [t.name for t in fig.data] == ["base", "depth"]
    assert list(fig.data[0].x) == ["0: how", "1: many", "2: red", "3: red"]
    assert "query→key" in fig.layout.yaxis.title.text


def test_embedding_scatter_keeps_every_point_and_its_index():
    rng = np.random.default_rng(0)
    coords = {"base": rng.normal(size=(10, 2)), "segmentation": rng.normal(size=(10, 2))}
    labels = ["background"] * 4 + ["class 1"] * 6
    fig = figures.embedding_scatter(coords, labels, COLORS, "t")
    for panel in ("x", "x2"):
        traces = [t for t in fig.data if t.xaxis == panel]
        assert sorted(i for t in traces for i in t.customdata) == list(range(10))
    # customdata is a plain list: Dash drops typed arrays from hoverData
    assert isinstance(fig.to_plotly_json()["data"][0]["customdata"], list)
    assert [t.showlegend for t in fig.data] == [True, True, False, False]


def test_embedding_scatter_orders_the_legend_naturally():
    labels = ["class 10", "background", "class 2", "class 10"]
    fig = figures.embedding_scatter({"base": np.zeros((4, 2))}, labels, COLORS, "t")
    assert [t.name for t in fig.data] == ["background", "class 2", "class 10"]


def test_score_bars_one_trace_per_checkpoint_and_benchmark():
    scores = CheckpointScores(
        understanding=Scores(overall=0.5, families={"count": 0.4, "depth": 0.6}),
        generation=Scores(overall=0.3, families={"single_object": 0.3}),
        proxy_quality={},
    )
    fig = figures.score_bars(dict.fromkeys(NAMES, scores), COLORS)
    assert len(fig.data) == 2 * len(NAMES)
    assert list(fig.data[0].x) == ["overall", "count", "depth"]
    assert list(fig.data[-1].x) == ["overall", "single object"]
    assert fig.layout.yaxis.range == (0, 1)


def test_score_bars_mark_each_bars_floor_where_the_scores_have_one():
    floor = Floor(overall=0.25, families={"count": 0.3, "depth": 0.2})
    with_floor = CheckpointScores(
        understanding=Scores(overall=0.5, families={"count": 0.4, "depth": 0.6}, floor=floor),
        generation=Scores(overall=0.3, families={"single_object": 0.3}),  # no floor: no mark
        proxy_quality={},
    )
    fig = figures.score_bars(dict.fromkeys(NAMES, with_floor), COLORS)
    marks = [t for t in fig.data if t.type == "scatter"]
    assert len(marks) == len(NAMES)  # one per checkpoint, understanding only
    assert [m.offsetgroup for m in marks] == list(NAMES)  # drawn across that checkpoint's bar
    assert list(marks[0].y) == [0.25, 0.3, 0.2] and list(marks[0].x) == [
        "overall",
        "count",
        "depth",
    ]
    assert [m.showlegend for m in marks] == [True] + [False] * (len(NAMES) - 1)


def test_delta_dots_error_bars_reach_the_ci():
    deltas = [
        Delta(a="base", b="depth", benchmark="understanding", family="overall", delta=0.1,
              lo=0.05, hi=0.2),
        Delta(a="base", b="depth", benchmark="generation", family="overall", delta=-0.1,
              lo=-0.3, hi=0.0),
    ]  # fmt: skip
    fig = figures.delta_dots(deltas, COLORS)
    und, gen = fig.data
    assert und.error_y.array[0] == pytest.approx(0.1)
    assert und.error_y.arrayminus[0] == pytest.approx(0.05)
    assert gen.error_y.arrayminus[0] == pytest.approx(0.2)
    assert und.name == "depth − base"


def test_patch_crop_and_patch_box():
    image = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    crop = figures.patch_crop(image, patch=3, grid=2)  # bottom-right 4x4
    assert np.array_equal(crop, image[4:, 4:])
    boxed = figures.patch_box(image, patch=0, grid=2, color=(1, 2, 3))
    assert (boxed[0, :4] == (1, 2, 3)).all() and (boxed[3, :4] == (1, 2, 3)).all()
    assert np.array_equal(boxed[1:3, 1:3], image[1:3, 1:3])  # inside left alone
    assert np.array_equal(boxed[4:], image[4:])
    assert not np.shares_memory(boxed, image)


def test_placeholder_says_why_it_is_empty():
    fig = figures.placeholder("no knockout results")
    assert not fig.data and fig.layout.annotations[0].text == "no knockout results"
