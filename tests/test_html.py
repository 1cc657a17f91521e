"""report.html: written from a report dir, every figure in it, nothing loaded from the network."""

from __future__ import annotations

import io
import json
import re
from html import escape

import pytest
from fixtures_report import write_synthetic_report
from plotly.io.json import to_json_plotly
from rich.console import Console

from sgt_probe.report.format import REPORT_HTML, ReportError, load_report
from sgt_probe.report.schema import (
    LENS_TARGETS,
    MASS_KINDS,
    PROBE_TARGETS,
    SCHEMA_VERSION,
    Generations,
    Scores,
)
from sgt_probe.viz import views
from sgt_probe.viz.html import write_html
from sgt_probe.viz.tables import print_report


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = write_synthetic_report(tmp_path_factory.mktemp("h") / "r", n_ckpts=3)
    return path, write_html(path)


def test_the_page_is_written_with_every_figure(written):
    path, out = written
    assert out == path / REPORT_HTML
    page = out.read_text(encoding="utf-8")
    d = load_report(path).data
    figs = [views.scores(d), views.deltas(d), views.cka(d), views.grounded(d), views.knockout(d)]
    figs += [views.probe_accuracy(d, t) for t in PROBE_TARGETS]
    figs += [views.probe_selectivity(d, t) for t in PROBE_TARGETS]
    figs += [views.label_free(d, k) for k in views.LABEL_FREE]
    figs += [views.attention_mass(d, k) for k in MASS_KINDS]
    figs += [
        views.cross_path_cka(d),
        *(views.probe_transfer(d, t) for t in ("read_to_draw", "draw_to_read")),
    ]
    figs += [views.logit_lens(d, t, p) for t in LENS_TARGETS for p in views.PATHS]
    for fig in figs:  # as plotly writes a string into the page's script: JSON, escaped
        assert to_json_plotly(fig.layout.title.text)[1:-1] in page
    assert page.count('class="plotly-graph-div"') == len(figs)
    for name in d.names:
        assert f"<td>{name}</td>" in page
    assert "did not run" not in page


def test_the_page_is_self_contained(written):
    page = written[1].read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link[^>]*\bhref=", page)
    assert page.count("Plotly.newPlot") >= 1
    assert page.count("plotly.js v") == 1  # the library is inlined once, not per figure


def test_a_missing_or_damaged_dir_is_one_line(tmp_path):
    with pytest.raises(ReportError, match="missing") as e:
        write_html(tmp_path / "nope")
    assert "\n" not in str(e.value)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "report.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION}))
    with pytest.raises(ReportError, match="report: missing field 'created'"):
        write_html(damaged)
    assert not (damaged / REPORT_HTML).exists()


def test_a_suite_that_did_not_run_is_said_where_its_figures_would_be(tmp_path):
    path = write_synthetic_report(tmp_path / "r", n_ckpts=2)
    report = load_report(path)
    subset = report.data.model_copy(update={"probes": None, "knockout": None,
                                            "suites": ["benchmarks", "attention", "cka",
                                                       "alignment", "embeddings"]})  # fmt: skip
    (path / "report.json").write_text(subset.model_dump_json())
    page = write_html(path).read_text(encoding="utf-8")
    for suite in ("probes", "knockout"):
        assert escape(views.not_run(suite)) in page
    assert "Probe accuracy" not in page and "knocked out" not in page
    assert "attention mass" in page  # what did run is drawn


def test_what_the_world_could_not_support_is_said_on_the_page_and_under_the_tables(tmp_path):
    # shaped as compare writes a folder world's report: no color probe, nothing generated
    path = write_synthetic_report(tmp_path / "r", n_ckpts=2)
    d = load_report(path).data
    why = {"generation": "the generation judge needs a generated world (shapes, digits), not "
           "'folder'", "color probe": "the 'folder' world gives its objects no colors"}  # fmt: skip
    nothing = Scores(overall=None, families={})
    bench = d.benchmarks.model_copy(update={
        "scores": {n: s.model_copy(update={"generation": nothing})
                   for n, s in d.benchmarks.scores.items()},
        "deltas": [x for x in d.benchmarks.deltas if x.benchmark != "generation"],
        "generations": Generations(items=[], verdicts={n: [] for n in d.names}),
    })  # fmt: skip
    probes = d.probes.model_copy(update={
        "targets": {n: {t: p for t, p in ts.items() if t != "color"}
                    for n, ts in d.probes.targets.items()},
    })  # fmt: skip
    folder = d.model_copy(update={"skipped": why, "benchmarks": bench, "probes": probes})
    (path / "report.json").write_text(folder.model_dump_json())
    page = write_html(path).read_text(encoding="utf-8")
    for what, reason in why.items():
        assert escape(f"{what} skipped: {reason}.") in page
    assert "Probe accuracy for semantic class" in page and "Probe accuracy for color" not in page
    console = Console(file=io.StringIO(), width=200)
    print_report(load_report(path).data, console)
    printed = console.file.getvalue()
    assert "understanding" in printed and "generation " not in printed.split("by layer")[0]
    for what, reason in why.items():
        assert f"{what} skipped: {reason}" in printed
