"""The report contract: what loading accepts and refuses (one line naming the field or the
version), how a report in an older format is treated, and the generated docs page."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import get_args

import pytest
from fixtures_report import write_synthetic_report

from sgt_probe.compare import suites
from sgt_probe.report import docs
from sgt_probe.report.format import REPORT_JSON, ReportError, is_current, load_report
from sgt_probe.report.schema import (
    OLDEST_READ,
    SCHEMA_VERSION,
    SKIP_SUITE,
    SUITES,
    SkipKind,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def report_dir(tmp_path):
    return write_synthetic_report(tmp_path / "r", n_ckpts=2)


def _rewrite(path: Path, change) -> None:
    doc = json.loads((path / REPORT_JSON).read_text())
    change(doc)
    (path / REPORT_JSON).write_text(json.dumps(doc))


def _refusal(path: Path) -> str:
    with pytest.raises(ReportError) as e:
        load_report(path)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_a_written_report_loads_back_as_it_was(report_dir):
    data = load_report(report_dir).data
    assert data.schema_version == SCHEMA_VERSION and data.suites == list(SUITES)
    again = json.loads(data.model_dump_json())
    assert again == json.loads((report_dir / REPORT_JSON).read_text())


def test_a_missing_field_is_named(report_dir):
    _rewrite(report_dir, lambda d: d["probes"]["targets"]["base"]["color"].pop("hi"))
    said = _refusal(report_dir)
    assert said == f"{report_dir / REPORT_JSON}: probes.targets.base.color: missing field 'hi'"


def test_a_renamed_field_is_named_both_ways(report_dir):
    def rename(d):
        k = d["knockout"]["curves"]["segmentation"]
        k["change"] = k.pop("relative_change")

    _rewrite(report_dir, rename)
    said = _refusal(report_dir)
    assert "knockout.curves.segmentation: missing field 'relative_change'" in said
    assert "knockout.curves.segmentation: unknown field 'change'" in said


def test_a_mistyped_value_is_named(report_dir):
    _rewrite(report_dir, lambda d: d["model"].update(n_layers="four"))
    assert "model.n_layers: Input should be a valid integer" in _refusal(report_dir)


def test_a_newer_version_is_refused_by_its_number(report_dir):
    _rewrite(report_dir, lambda d: d.update(schema_version=SCHEMA_VERSION + 1, anything=1))
    said = _refusal(report_dir)
    assert f"schema_version {SCHEMA_VERSION + 1} is newer than this sgt-probe reads" in said
    assert "upgrade sgt-probe" in said


def test_an_older_version_is_refused_with_what_to_do(report_dir):
    _rewrite(report_dir, lambda d: d.update(schema_version=OLDEST_READ - 1))
    said = _refusal(report_dir)
    assert f"schema_version {OLDEST_READ - 1} is older" in said
    assert "rerun `sgt-probe compare`" in said


def test_suites_and_sections_must_agree(report_dir):
    _rewrite(report_dir, lambda d: d["suites"].remove("cka"))
    assert "cka: a section for a suite that `suites` does not list" in _refusal(report_dir)
    _rewrite(report_dir, lambda d: d["suites"].append("cka") or d.update(cka=None))
    assert "suites lists 'cka' but its section is null" in _refusal(report_dir)


def test_what_was_skipped_is_checked_against_the_suites_that_ran(report_dir):
    why = "the generation judge needs a generated world (shapes, digits), not 'folder'"
    _rewrite(report_dir, lambda d: d.update(skipped={"generation": why}))
    assert load_report(report_dir).data.skipped == {"generation": why}
    _rewrite(report_dir, lambda d: d.update(skipped={"generaton": why}))
    assert "skipped.generaton.[key]: Input should be 'generation'" in _refusal(report_dir)

    def without_benchmarks(d):
        d.update(skipped={"generation": why}, benchmarks=None)
        d["suites"].remove("benchmarks")

    _rewrite(report_dir, without_benchmarks)
    said = _refusal(report_dir)
    assert "skipped: 'generation' is part of the 'benchmarks' suite, which did not run" in said


def test_every_skippable_part_names_its_suite():
    assert set(SKIP_SUITE) == set(get_args(SkipKind)) and set(SKIP_SUITE.values()) <= set(SUITES)


def test_a_version_2_report_loads_with_nothing_skipped(report_dir):
    def as_version_2(d):
        d.update(schema_version=2)
        del d["skipped"]
        del d["data"]["eval_fraction"]

    _rewrite(report_dir, as_version_2)
    data = load_report(report_dir).data
    assert (data.skipped, data.data.eval_fraction) == ({}, 0.2)


def test_the_data_spec_may_grow_without_a_schema_change(report_dir):
    # the data layer owns DataSpec; a field it adds must not make reports unreadable
    _rewrite(report_dir, lambda d: d["data"].update(split="probe"))
    assert load_report(report_dir).data.data.world == "shapes"


def test_a_report_in_an_older_format_is_not_current(report_dir, tmp_path):
    ckpt = tmp_path / "base.pt"
    ckpt.write_bytes(b"")
    later = os.stat(ckpt).st_mtime_ns + 10**9
    os.utime(report_dir / REPORT_JSON, ns=(later, later))
    assert is_current(report_dir, [ckpt])
    _rewrite(report_dir, lambda d: d.update(schema_version=OLDEST_READ - 1))
    os.utime(report_dir / REPORT_JSON, ns=(later, later))
    assert not is_current(report_dir, [ckpt])  # the pipeline rebuilds it


def test_every_suite_compare_runs_has_its_section_in_the_schema():
    assert tuple(suites.SUITES) == SUITES


def test_the_docs_page_is_generated_from_the_schema():
    committed = (ROOT / docs.PAGE).read_text()
    assert committed == docs.render(), "stale: run python -m sgt_probe.report.docs"
    for name in SUITES:
        assert f"## {name.capitalize()}" in committed
