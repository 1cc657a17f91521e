"""The claims scorecard (`analyses/claims.py`, `report/study.py`) on synthetic studies whose
effects are planted, each statistic checked against a computation written here."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fixtures_study import PROXIES, synthetic_report, write_synthetic_study
from scipy import stats

from sgt_probe.analyses import claims
from sgt_probe.data.scene import PROMPT_FAMILIES, QUESTION_FAMILIES
from sgt_probe.report.study import (
    CLAIMS_MD,
    STUDY_JSON,
    Claim,
    StudyError,
    load_study,
    scorecard_markdown,
    verdict,
)


@pytest.fixture(scope="module")
def study_reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    return root, write_synthetic_study(root)


def test_the_verdict_rule_and_a_claim_refusing_a_verdict_its_interval_does_not_give():
    assert verdict(0.01, 0.2, 1) == "holds" and verdict(0.01, 0.2, -1) == "contradicted"
    assert verdict(-0.2, -0.01, -1) == "holds" and verdict(-0.2, -0.01, 1) == "contradicted"
    assert verdict(-0.1, 0.1, 1) == "not shown" and verdict(None, None, 1) == "not measured"
    row = {"id": "1", "claim": "c", "statistic": "s", "direction": 1, "estimate": 0.05,
           "lo": -0.01, "hi": 0.1, "n": 3, "interval": "t", "recipe": "paper",
           "worlds": ["shapes"]}  # fmt: skip
    assert Claim(**row, verdict="not shown").verdict == "not shown"
    with pytest.raises(ValueError, match="gives 'not shown'"):
        Claim(**row, verdict="holds")


def test_stratified_intervals_against_the_formula():
    one = {"shapes": [0.1, 0.3, 0.2]}
    mean, lo, hi, n = claims.stratified(one)
    want = stats.t.interval(0.95, 2, loc=0.2, scale=stats.sem([0.1, 0.3, 0.2]))
    assert (mean, n) == (pytest.approx(0.2), 3) and (lo, hi) == pytest.approx(want)
    two = {"shapes": [0.1, 0.3, 0.2], "digits": [0.5, 0.6, 0.9, 0.8]}
    mean, lo, hi, n = claims.stratified(two)
    v = [np.var([0.1, 0.3, 0.2], ddof=1) / 3 / 4, np.var([0.5, 0.6, 0.9, 0.8], ddof=1) / 4 / 4]
    df = sum(v) ** 2 / (v[0] ** 2 / 2 + v[1] ** 2 / 3)
    half = stats.t.ppf(0.975, df) * math.sqrt(sum(v))
    assert mean == pytest.approx((0.2 + 0.7) / 2) and n == 7
    assert (lo, hi) == pytest.approx((mean - half, mean + half))
    assert claims.stratified({"shapes": [0.1], "digits": [0.2, 0.3]})[1:3] == (None, None)


def test_a_view_recomputes_the_report_s_own_scores(study_reports):
    report = study_reports[1][0]
    view = claims.View(report)
    for name, s in report.data.benchmarks.scores.items():
        assert view.understanding(name)[0] == pytest.approx(s.understanding.overall)
        assert view.generation(name)[0] == pytest.approx(s.generation.overall)
        for fam, v in s.understanding.families.items():
            assert view.understanding(name, fam)[0] == pytest.approx(v)


def test_the_hierarchy_is_the_least_squares_slope_over_levels(study_reports):
    report = study_reports[1][0]
    run = claims.classify(report)
    u = {c: report.data.benchmarks.scores[c].understanding.overall for c in PROXIES}
    x = [claims.LEVELS[p] for p in PROXIES if p != "none"]
    y = [u[p] - u["none"] for p in PROXIES if p != "none"]
    assert claims.hierarchy(run, claims.View(report))[0] == pytest.approx(np.polyfit(x, y, 1)[0])


def test_a_planted_perception_gain_holds_and_a_study_round_trips(study_reports, tmp_path):
    root, reports = study_reports
    study = claims.build(reports, root)
    by_id = {c.id: c for c in study.claims}
    # segmentation +0.3 on every perception family, nothing on comparison
    assert by_id["2"].verdict == "holds" and by_id["2"].estimate == pytest.approx(0.3, abs=0.05)
    assert by_id["2"].n == 6 and by_id["2"].worlds == ["digits", "shapes"]
    assert by_id["6"].verdict == "holds"  # text->image +0.3 in the late layers only
    assert (by_id["5"].verdict, by_id["5"].estimate) == ("not shown", 0)  # equal probes
    assert by_id["4"].verdict == "not measured" and "no scaling runs" in by_id["4"].caveat
    # generation is a constant 0.3 for all: claim 3 measures noise, and says so at its floor
    assert by_id["3"].verdict in ("not shown", "holds", "contradicted")
    claims.write_study(tmp_path, study)
    loaded = load_study(tmp_path)
    assert loaded == study
    md = (tmp_path / CLAIMS_MD).read_text()
    assert scorecard_markdown(study) in md
    tampered = json.loads((tmp_path / STUDY_JSON).read_text())
    tampered["claims"][1]["verdict"] = "contradicted"
    (tmp_path / STUDY_JSON).write_text(json.dumps(tampered))
    with pytest.raises(StudyError, match="claims.1: .*gives 'holds'"):
        load_study(tmp_path)


def test_a_one_seed_arm_resamples_its_scenes_and_says_so(tmp_path):
    rng = np.random.default_rng(1)
    names = ["base", "none-64", "segmentation-64", "none-256", "segmentation-256"]
    effects = {n: {"u": {f: (0.9 if (n.startswith("seg") and f == "category") else 0.5)
                         for f in QUESTION_FAMILIES},
                   "g": {f: 0.3 for f in PROMPT_FAMILIES}} for n in names}  # fmt: skip
    settings = {n: {"few_label_scenes": int(n.split("-")[1])} for n in names[1:]}
    reports = [synthetic_report(tmp_path / w / "report", w, 0, rng, effects, settings=settings,
                       names=names) for w in ("shapes", "digits")]  # fmt: skip
    (row,) = [c for c in claims.build(reports).claims if c.id == "9"]
    assert row.interval == "scene bootstrap" and "one seed per world" in row.caveat
    assert row.estimate == pytest.approx(0.4, abs=0.1) and row.verdict == "holds"
    assert row.lo < row.estimate < row.hi
