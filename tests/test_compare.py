"""`sgt-probe compare` end to end on two tiny checkpoints, and its refusals."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from helpers_train import TINY_MODEL, TINY_TRAIN, _fast, single_thread

from sgt_probe.cli import main
from sgt_probe.compare import inputs
from sgt_probe.data import SCORED_FAMILIES, DataSpec
from sgt_probe.report.format import (
    ARRAYS_NPZ,
    REPORT_HTML,
    key_attn,
    key_embedding,
    load_report,
)
from sgt_probe.report.schema import DEFINITIONS, MASS_KINDS, SUITES, WORD_TYPES
from sgt_probe.tuning import runner


def test_compare_writes_a_complete_report(real_report):
    report = load_report(real_report)
    d = report.data
    names = report.names
    assert names == ["base", "segmentation"]
    assert d.suites == list(SUITES)  # all of them by default
    assert set(d.definitions) == {k for s in SUITES for k in DEFINITIONS[s]}
    n_layers = d.model.n_layers
    for n in names:
        for target in ("semantic_class", "color", "object_count"):
            p = d.probes.targets[n][target]
            assert len(p.accuracy) == n_layers
            assert all(lo <= a <= hi for a, lo, hi in zip(p.accuracy, p.lo, p.hi, strict=True))
        sc = d.probes.targets[n]["semantic_class"]
        # object patches only, by balanced accuracy: its floor is 1/K, K the object classes
        # held out, which depends on the labels only, which every checkpoint shares
        assert sc.metric == "balanced_accuracy"
        assert sc.floor == d.probes.targets["base"]["semantic_class"].floor == 1 / sc.n_classes
        assert 2 <= sc.n_classes <= 4  # the shapes world's four, background not among them
        np.testing.assert_allclose(
            sc.selectivity, np.array(sc.accuracy) - np.array(sc.control), atol=1e-12
        )
        assert d.probes.targets[n]["object_count"].control is None  # image level: no control
        for kind in MASS_KINDS:
            shape = np.array(d.attention.stats[n].mass[kind]).shape
            assert shape == (n_layers, d.model.n_heads)
        assert len(d.knockout.curves[n].relative_change) == n_layers
        u = d.benchmarks.scores[n].understanding
        scored = [v for f, v in u.families.items() if f in SCORED_FAMILIES]
        assert u.overall == pytest.approx(np.mean(scored))
        alloc = d.attention.stats[n].allocation
        np.testing.assert_allclose(alloc.text_image,
                                   np.mean(d.attention.stats[n].mass["text->image"], axis=1))  # fmt: skip
        for words in (alloc.generated_to_prompt, alloc.cue_to_question):
            assert set(words.share) == set(WORD_TYPES) and words.n > 0
            np.testing.assert_allclose(np.sum(list(words.share.values()), axis=0), 1.0, rtol=1e-6)
        assert (alloc.change_pct is None) == (n == "base")
        leak = d.benchmarks.leak[n]
        assert len(leak.maps) == len(d.benchmarks.generations.items)
        assert leak.map_rate == pytest.approx(np.mean(leak.maps))
        assert leak.lo <= leak.map_rate <= leak.hi and 0 <= leak.palette_share <= 1
        for bench in (u, d.benchmarks.scores[n].generation):  # each with its floor beside it
            assert set(bench.floor.families) == set(bench.families)
            floors = [v for f, v in bench.floor.families.items()
                      if bench is not u or f in SCORED_FAMILIES]  # fmt: skip
            assert bench.floor.overall == pytest.approx(np.mean(floors))
    assert d.benchmarks.leak_detector.accuracy > 0.9  # held-out renders: maps vs scenes
    base, seg = (np.array(d.attention.stats[n].allocation.text_image) for n in names)
    np.testing.assert_allclose(d.attention.stats["segmentation"].allocation.change_pct,
                               100 * (seg / base - 1), rtol=1e-6)  # fmt: skip
    assert len(d.cka.pairs) == 1 and len(d.cka.pairs[0].values) == n_layers
    overall = [x for x in d.benchmarks.deltas
               if x.benchmark == "understanding" and x.family == "overall"]  # fmt: skip
    ref, seg = (d.benchmarks.scores[n].understanding.overall for n in names)
    assert overall[0].delta == pytest.approx(seg - ref)  # family-weighted pairing
    for layer in d.embeddings.layers:
        assert report.arrays[key_embedding("segmentation", layer)].shape[1] == 2
    assert report.arrays[key_attn("base")].ndim == 5
    assert set(d.timings) >= {"load", "data", "capture", *SUITES}
    assert (real_report / REPORT_HTML).stat().st_size > 10_000
    assert (real_report / ARRAYS_NPZ).exists()
    json.loads((real_report / "report.json").read_text())  # strict JSON: no NaN


def test_compare_runs_only_the_suites_asked_for(real_report, tmp_path, capsys):
    ckpts = [c.path for c in load_report(real_report).data.checkpoints]
    out = tmp_path / "subset"
    argv = ["compare", *ckpts, "--out", str(out), "--n-scenes", "8", "--n-probe-scenes", "8",
            "--device", "cpu", "--suites", "attention,probes"]  # fmt: skip
    with single_thread():
        assert main(argv) == 0
    d = load_report(out).data
    assert d.suites == ["probes", "attention"]  # in run order, whatever order they were asked
    assert d.benchmarks is d.knockout is d.cka is d.alignment is d.embeddings is None
    assert set(d.definitions) == {*DEFINITIONS["probes"], *DEFINITIONS["attention"]}
    assert "benchmarks" not in d.timings
    with np.load(out / ARRAYS_NPZ) as z:  # no generated images, no UMAP: neither suite ran
        assert not [k for k in z.files if k.startswith(("generations/", "embeddings/"))]
    printed = capsys.readouterr().out
    assert (
        "not run (sgt-probe compare --suites): benchmarks, knockout, cka, alignment, embeddings"
    ) in printed
    assert "did not run" in (out / REPORT_HTML).read_text()


@pytest.mark.parametrize(
    ("suites", "problem"),
    [("probez", f"unknown suite 'probez'; choose from {', '.join(SUITES)}"),
     ("probes, cka,,", None),  # spaces and empty entries are fine
     (" , ", f"no suite to run; choose from {', '.join(SUITES)}")],
)  # fmt: skip
def test_compare_checks_the_suites_while_parsing(tmp_path, capsys, suites, problem):
    ckpts = [tmp_path / "a.pt", tmp_path / "b.pt"]  # they exist: read only after parsing
    for c in ckpts:
        c.write_bytes(b"not read")
    code = main(["compare", *map(str, ckpts), "--out", str(tmp_path / "r"), "--suites", suites])
    err = capsys.readouterr().err.strip()
    if problem:
        assert code == 2 and err == f"error: Invalid value for '--suites': {problem}"
    else:  # parsing passed: the first checkpoint is read, and refused
        assert code == 2 and err.startswith(f"error: {ckpts[0]}: not a readable")
    assert not (tmp_path / "r").exists()


def test_compare_refuses_checkpoints_of_another_world(tmp_path, real_report, capsys):
    with _fast():
        other = runner.train_base(
            DataSpec(world="digits"), tmp_path / "digits.pt", "tiny", TINY_MODEL,
            {**TINY_TRAIN, "steps": 2, "n_scenes": 16}, device="cpu", progress=False,
        )  # fmt: skip
    base = load_report(real_report).data.checkpoints[0].path
    capsys.readouterr()  # drop the training's progress output
    code = main(["compare", base, str(other), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "world" in err and "digits.pt" in err
    assert not (tmp_path / "r").exists()


def test_compare_needs_two_checkpoints(tmp_path, real_report, capsys):
    base = load_report(real_report).data.checkpoints[0].path
    assert main(["compare", base, "--out", str(tmp_path / "r")]) == 2
    assert "two" in capsys.readouterr().err


def test_the_stopwatch_counts_each_second_once(monkeypatch):
    clock = iter([0.0, 1.0, 3.0, 10.0])  # outer starts, inner starts, inner ends, outer ends
    monkeypatch.setattr(inputs, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    stopwatch = inputs.Stopwatch(progress=False)
    with stopwatch("probes"), stopwatch("capture"):
        pass
    assert stopwatch.seconds == {"capture": 2.0, "probes": 8.0}
