"""`sgt-probe compare` end to end on two tiny checkpoints, and its refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers_train import TINY_MODEL, TINY_TRAIN, _fast

from sgt_probe.cli import main
from sgt_probe.data import DataSpec
from sgt_probe.report.format import ARRAYS_NPZ, MASS_KINDS, REPORT_HTML, load_report
from sgt_probe.tuning import runner


def test_compare_writes_a_complete_report(real_report):
    report = load_report(real_report)
    d = report.data
    names = report.names
    assert names == ["base", "segmentation"]
    n_layers = d["model"]["n_layers"]
    for n in names:
        for target in ("semantic_class", "color", "object_count"):
            p = d["probes"][n][target]
            assert len(p["accuracy"]) == n_layers
            assert all(
                lo <= a <= hi for a, lo, hi in zip(p["accuracy"], p["lo"], p["hi"], strict=True)
            )
        sc = d["probes"][n]["semantic_class"]
        # the floor depends on the labels only, which every checkpoint shares
        assert sc["majority"] == d["probes"]["base"]["semantic_class"]["majority"]
        assert 0.5 < sc["majority"] < 1  # most patches are background
        np.testing.assert_allclose(
            sc["selectivity"], np.array(sc["accuracy"]) - np.array(sc["control"]), atol=1e-12
        )
        for kind in MASS_KINDS:
            assert np.array(d["attention"][n]["mass"][kind]).shape == (
                n_layers,
                d["model"]["n_heads"],
            )
        assert len(d["knockout"][n]["relative_change"]) == n_layers
        u = d["benchmarks"][n]["understanding"]
        assert u["overall"] == pytest.approx(np.mean(list(u["families"].values())))
    assert len(d["cka"]) == 1 and len(d["cka"][0]["values"]) == n_layers
    overall = [
        x for x in d["deltas"] if x["benchmark"] == "understanding" and x["family"] == "overall"
    ]
    ref, seg = (d["benchmarks"][n]["understanding"]["overall"] for n in names)
    assert overall[0]["delta"] == pytest.approx(seg - ref)  # family-weighted pairing
    for layer in d["embeddings"]["layers"]:
        assert report.arrays[f"embeddings/segmentation/{layer}"].shape[1] == 2
    assert report.arrays["explorer/attn/base"].ndim == 5
    assert (real_report / REPORT_HTML).stat().st_size > 10_000
    assert (real_report / ARRAYS_NPZ).exists()
    json.loads((real_report / "report.json").read_text())  # strict JSON: no NaN


def test_compare_refuses_checkpoints_of_another_world(tmp_path, real_report, capsys):
    with _fast():
        other = runner.train_base(
            DataSpec(world="digits"), tmp_path / "digits.pt", "tiny", TINY_MODEL,
            {**TINY_TRAIN, "steps": 2, "n_scenes": 16}, device="cpu", progress=False,
        )  # fmt: skip
    base = load_report(real_report).data["checkpoints"][0]["path"]
    capsys.readouterr()  # drop the training's progress output
    code = main(["compare", base, str(other), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "world" in err and "digits.pt" in err
    assert not (tmp_path / "r").exists()


def test_compare_needs_two_checkpoints(tmp_path, real_report, capsys):
    base = load_report(real_report).data["checkpoints"][0]["path"]
    assert main(["compare", base, "--out", str(tmp_path / "r")]) == 2
    assert "two" in capsys.readouterr().err
