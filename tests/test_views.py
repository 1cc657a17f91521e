"""sgt_probe.viz.views on the synthetic report: the numbers each figure shows are the report's."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_report import write_synthetic_report

from sgt_probe.report.format import key_embed_meta, load_report
from sgt_probe.report.schema import MASS_KINDS, PROBE_TARGETS, SUITES
from sgt_probe.viz import figures, views


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return load_report(write_synthetic_report(tmp_path_factory.mktemp("v") / "r", n_ckpts=3))


def _copy(report):
    """A deep copy of the report's data to change for one test."""
    return report.data.model_copy(deep=True)


def _lines(fig) -> dict:
    """Legend name -> the line trace (CI bands are the unnamed-in-legend fills)."""
    return {t.name: t for t in fig.data if t.mode == "lines+markers"}


def _band(fig, name: str):
    return next(t for t in fig.data if t.name == f"{name} 95% CI")


def _note(fig) -> str:
    """What a placeholder figure says."""
    assert not fig.data
    return fig.layout.annotations[0].text


def test_scores_and_deltas_are_the_benchmarks(report):
    d = report.data
    scores = views.scores(d)
    assert len(scores.data) == 2 * 3  # understanding and generation, per checkpoint
    bar = next(t for t in scores.data if t.name == "depth" and t.xaxis == "x2")
    gen = d.benchmarks.scores["depth"].generation
    assert list(bar.y) == [gen.overall, *gen.families.values()]
    dots = views.deltas(d)
    assert {t.name for t in dots.data} == {"segmentation − base", "depth − base"}
    single = _copy(report)
    single.benchmarks.deltas = []
    assert "no paired deltas" in _note(views.deltas(single))


def test_proxy_rows_one_per_checkpoint(report):
    rows = views.proxy_rows(report.data)
    assert [r["checkpoint"] for r in rows] == report.names
    assert rows[0]["proxy"] == "none" and "segmentation_miou" in rows[0]
    assert rows[2]["generation"] == report.data.benchmarks.scores["depth"].generation.overall
    assert views.n_proxies(report.data) == 2


@pytest.mark.parametrize("target", PROBE_TARGETS)
def test_probe_accuracy_and_selectivity_by_layer(report, target):
    d = report.data
    acc = views.probe_accuracy(d, target)
    p = d.probes.targets["segmentation"][target]
    np.testing.assert_allclose(_lines(acc)["segmentation"].y, p.accuracy)
    band = _band(acc, "segmentation")
    np.testing.assert_allclose(band.y, p.hi + p.lo[::-1])
    assert target.replace("_", " ") in acc.layout.title.text
    assert "95% bootstrap CI" in acc.layout.title.text
    sel = views.probe_selectivity(d, target)
    np.testing.assert_allclose(_lines(sel)["base"].y, d.probes.targets["base"][target].selectivity)


def test_probe_accuracy_draws_the_floor_when_the_report_has_it(report):
    assert not views.probe_accuracy(report.data, "color").layout.shapes  # no floor: none drawn
    d = _copy(report)
    for n, share in zip(("base", "segmentation", "depth"), (0.8, 0.9, 0.7), strict=True):
        d.probes.targets[n]["color"].floor = share
    (line,) = views.probe_accuracy(d, "color").layout.shapes
    assert line.y0 == line.y1 == pytest.approx(0.8)
    assert "accuracy" in views.probe_note(d, "color")


def test_an_object_patch_probe_is_drawn_as_balanced_accuracy_over_its_one_over_k_floor(report):
    d = _copy(report)
    for targets in d.probes.targets.values():  # as compare writes it from schema 4 on
        p = targets["semantic_class"]
        p.metric, p.floor, p.n_classes = "balanced_accuracy", 0.25, 4
    fig = views.probe_accuracy(d, "semantic_class")
    (line,) = fig.layout.shapes
    assert line.y0 == pytest.approx(0.25)
    assert "balanced accuracy for semantic class (object patches)" in fig.layout.title.text
    assert fig.layout.yaxis.title.text == "held-out probe balanced accuracy"
    assert "1/K" in fig.layout.annotations[0].text
    assert "object patches only" in views.probe_note(d, "semantic_class")
    assert "K = 4" in views.probe_note(d, "semantic_class")


def test_an_image_level_probe_without_a_control_task_has_no_selectivity(report):
    d = _copy(report)
    for p in d.probes.targets.values():  # as compare writes object_count: no control task
        p["object_count"].control = p["object_count"].selectivity = None
    assert _lines(views.probe_accuracy(d, "object_count"))
    assert "no selectivity for object count" in _note(views.probe_selectivity(d, "object_count"))


def test_a_selection_keeps_each_checkpoints_color(report):
    d = report.data
    both = _lines(views.probe_accuracy(d, "color"))
    one = _lines(views.probe_accuracy(d, "color", only=["depth"], ci="mean of 3 seeds"))
    assert list(one) == ["depth"]
    assert one["depth"].line.color == both["depth"].line.color != figures.REFERENCE_COLOR


def test_label_free_and_cka(report):
    d = report.data
    fisher = views.label_free(d, "fisher")
    np.testing.assert_allclose(_lines(fisher)["depth"].y, d.probes.label_free["depth"].fisher)
    assert "silhouette" in views.label_free(d, "silhouette").layout.title.text
    cka = _lines(views.cka(d))
    assert list(cka) == ["base vs segmentation", "base vs depth"]
    assert cka["base vs depth"].line.color == views.colors(d)["depth"]
    single = _copy(report)
    single.cka.pairs = []
    assert "no CKA" in _note(views.cka(single))


@pytest.mark.parametrize("kind", MASS_KINDS)
def test_attention_mass_is_the_head_mean(report, kind):
    d = report.data
    fig = views.attention_mass(d, kind)
    want = np.mean(d.attention.stats["base"].mass[kind], axis=1)
    np.testing.assert_allclose(_lines(fig)["base"].y, want)
    assert views.MASS_TITLES[kind] in fig.layout.title.text


def test_attention_mass_skips_a_kind_a_checkpoint_lacks(report):
    d = _copy(report)
    d.attention.stats["segmentation"].mass["generated->input"] = None
    assert list(_lines(views.attention_mass(d, "generated->input"))) == ["base", "depth"]
    for a in d.attention.stats.values():
        a.mass["generated->input"] = None
    assert "no generated-image→input-image" in _note(views.attention_mass(d, "generated->input"))


def test_grounded_precision_beside_chance(report):
    d = report.data
    fig = views.grounded(d)
    g = d.attention.stats["depth"].grounded
    np.testing.assert_allclose(_lines(fig)["depth"].y, g.precision)
    assert fig.layout.shapes[0].y0 == g.chance
    assert _lines(fig)["depth"].text[1] == f"{g.ratio[1]:.2f}× chance"


def test_knockout_curves(report):
    d = report.data
    fig = views.knockout(d, only=["base", "depth"])
    k = d.knockout.curves["base"]
    line = _lines(fig)["base"]
    assert list(_lines(fig)) == ["base", "depth"]
    np.testing.assert_allclose(line.y, k.relative_change)
    assert list(line.x) == k.center
    assert "no knockout" in _note(views.knockout(d, only=["nobody"]))


def test_reading_against_drawing_draws_the_reports_numbers(report):
    d = report.data
    paths = d.alignment.checkpoints
    cka = views.cross_path_cka(d)
    assert list(_lines(cka)) == report.names
    np.testing.assert_allclose(_lines(cka)["depth"].y, paths["depth"].cka.value)
    np.testing.assert_allclose(_band(cka, "depth").y[: d.model.n_layers], paths["depth"].cka.hi)
    transfer = views.probe_transfer(d, "draw_to_read", only=["base", "depth"])
    assert list(_lines(transfer)) == ["base", "depth"]
    line = _lines(transfer)["depth"]
    np.testing.assert_allclose(line.y, paths["depth"].transfer.draw_to_read.value)
    own = paths["depth"].transfer.read.value[1]
    assert line.text[1] == f"read's own probe {own:.3f}"  # hover: the scoring path's own probe
    assert transfer.layout.shapes[0].y0 == pytest.approx(paths["depth"].transfer.floor)
    lens = views.logit_lens(d, "color", "draw")
    np.testing.assert_allclose(_lines(lens)["base"].y, paths["base"].lens["color"].draw.value)
    assert "drawing" in lens.layout.title.text and "color words" in lens.layout.title.text


def test_what_a_model_cannot_align_is_said_where_its_figures_would_be(report):
    d = _copy(report)
    why = "the emu3 model reads an image as the very VQ tokens it draws it with"
    d.skipped = {"cross-path alignment": why, "color lens": "no single token for 'magenta'"}
    for a in d.alignment.checkpoints.values():
        a.cka = a.transfer = None
        del a.lens["color"]
    assert views.alignment_note(d) == (
        f"cross-path alignment skipped: {why}. color lens skipped: no single token for 'magenta'."
    )
    assert _note(views.cross_path_cka(d)) == f"no cross-path CKA: {why}"
    assert _note(views.probe_transfer(d)) == f"no probe transfer: {why}"
    assert "no single token for 'magenta'" in _note(views.logit_lens(d, "color"))
    assert _lines(views.logit_lens(d, "semantic_class", "read"))  # what was measured is drawn


@pytest.mark.parametrize("suite", SUITES)
def test_a_suite_that_did_not_run_is_said_not_drawn(report, suite):
    d = report.data.model_copy(
        update={suite: None, "suites": [s for s in report.data.suites if s != suite]}
    )
    drawn = {
        "benchmarks": [views.scores(d), views.deltas(d)],
        "probes": [
            views.probe_accuracy(d, "color"),
            views.probe_selectivity(d, "color"),
            views.label_free(d, "fisher"),
        ],  # fmt: skip
        "attention": [views.attention_mass(d, "sink"), views.grounded(d)],
        "knockout": [views.knockout(d)],
        "cka": [views.cka(d)],
        "alignment": [views.cross_path_cka(d), views.probe_transfer(d), views.logit_lens(d)],
        "embeddings": [views.embeddings(d, report.arrays, ["base"], 2, "class")],
    }[suite]
    for fig in drawn:
        assert _note(fig) == views.not_run(suite)


def test_embedding_labels_use_the_reports_names_when_present(report):
    d = _copy(report)
    values = report.arrays[key_embed_meta("class")]
    unnamed = views.embedding_labels(d, report.arrays, "class")
    assert {unnamed[i] for i in np.nonzero(values == 0)[0]} == {"background"}
    assert unnamed[int(np.argmax(values == 2))] == "class 2"
    d.embeddings.labels = {"class": ["background", "square", "circle", "triangle", "cross"]}
    named = views.embedding_labels(d, report.arrays, "class")
    assert named[int(np.argmax(values == 2))] == "circle"
    colors = views.embedding_labels(d, report.arrays, "color")  # no color names: indices
    assert "background" in colors and any(c.startswith("color ") for c in colors)


def test_embeddings_panels_per_selected_checkpoint(report):
    d = report.data
    fig = views.embeddings(d, report.arrays, ["base", "depth"], 2, "class")
    assert [a.text for a in fig.layout.annotations] == ["base", "depth"]
    assert "layer 2" in fig.layout.title.text
    with pytest.raises(KeyError, match="embeddings/base/1"):
        views.embeddings(d, report.arrays, ["base"], 1, "class")
