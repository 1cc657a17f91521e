"""report.html: written from a report dir, every figure in it, nothing loaded from the network."""

from __future__ import annotations

import json
import re

import pytest
from fixtures_report import write_synthetic_report
from plotly.io.json import to_json_plotly

from sgt_probe.report.format import (
    MASS_KINDS,
    PROBE_TARGETS,
    REPORT_HTML,
    ReportError,
    load_report,
)
from sgt_probe.viz import views
from sgt_probe.viz.html import write_html


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
    for fig in figs:  # as plotly writes a string into the page's script: JSON, escaped
        assert to_json_plotly(fig.layout.title.text)[1:-1] in page
    assert page.count('class="plotly-graph-div"') == len(figs)
    for c in d["checkpoints"]:
        assert f"<td>{c['name']}</td>" in page


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
    (damaged / "report.json").write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(ReportError, match="missing the 'checkpoints' section"):
        write_html(damaged)
    assert not (damaged / REPORT_HTML).exists()
