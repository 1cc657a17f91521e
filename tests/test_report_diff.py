"""benchmarks/report_diff.py: the check that a speed-up kept a report's numbers."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np

_SPEC = importlib.util.spec_from_file_location(
    "report_diff", Path(__file__).parents[1] / "benchmarks" / "report_diff.py"
)
report_diff = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(report_diff)


def _report(folder: Path, doc: dict, arrays: dict) -> Path:
    folder.mkdir()
    (folder / "report.json").write_text(json.dumps(doc))
    np.savez(folder / "arrays.npz", **arrays)
    return folder


DOC = {
    "schema_version": 4, "created": "then", "timings": {"probes": 3.0},
    "probes": {"targets": {"base": {"color": {"accuracy": [0.5, 0.75], "floor": None}}}},
    "benchmarks": {"n_scenes": 64, "names": ["base", "sgt"], "nan": math.nan},
}  # fmt: skip


def test_equal_reports_pass_and_timings_are_left_out(tmp_path):
    a = _report(tmp_path / "a", DOC, {"umap": np.ones((2, 3), np.float32)})
    b = _report(tmp_path / "b", {**DOC, "timings": {"probes": 9.0}, "created": "now"},
                {"umap": np.ones((2, 3), np.float32)})  # fmt: skip
    same, text = report_diff.compare(report_diff.read_report(a), report_diff.read_report(b), 1e-6)
    assert same, text
    assert "timings" not in text and "created" not in text
    assert report_diff.main([str(a), str(b)]) == 0


def test_a_number_past_tol_fails_and_is_named(tmp_path):
    doc = json.loads(json.dumps(DOC))
    doc["probes"]["targets"]["base"]["color"]["accuracy"][1] = 0.75 + 1e-5
    a = _report(tmp_path / "a", DOC, {"umap": np.zeros(4)})
    b = _report(tmp_path / "b", doc, {"umap": np.array([0.0, 0.0, 2e-7, 0.0])})
    same, text = report_diff.compare(report_diff.read_report(a), report_diff.read_report(b), 1e-6)
    assert not same
    assert "probes.targets.base.color.accuracy.1" in text  # the differing path, listed
    assert "arrays:umap.2" not in text  # 2e-7 is within tol
    assert report_diff.main([str(a), str(b)]) == 1
    assert report_diff.main([str(a), str(b), "--tol", "1e-4"]) == 0


def test_strings_nulls_nans_and_fields_only_one_report_has(tmp_path):
    assert report_diff.difference(math.nan, math.nan) == 0.0
    assert report_diff.difference(math.nan, 1.0) == math.inf
    assert report_diff.difference(None, 0.0) == math.inf
    assert report_diff.difference("a", "a") == 0.0
    assert report_diff.difference(True, 1) == math.inf  # a bool is not the number 1
    doc = {**DOC, "skipped": {"color": "no colors"}}
    a = _report(tmp_path / "a", DOC, {"x": np.arange(3)})
    b = _report(tmp_path / "b", doc, {"x": np.arange(3)})
    same, text = report_diff.compare(report_diff.read_report(a), report_diff.read_report(b), 1e-6)
    assert same
    assert "only after: 1 values under skipped.color" in text
