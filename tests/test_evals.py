"""Evaluation: family scores are the means of their items, and the proxy metrics are the
standard ones (checked against scikit-learn)."""

from __future__ import annotations

from pathlib import Path
from statistics import fmean

import numpy as np
import pytest
from helpers_train import SPEC, shared_base, single_thread
from sklearn.metrics import accuracy_score, f1_score, jaccard_score

from sgt_probe.data import (
    FEW_LABEL_FAMILIES,
    PROMPT_FAMILIES,
    QUESTION_FAMILIES,
    SCORED_FAMILIES,
    make_world,
)
from sgt_probe.evals.benchmarks import evaluate
from sgt_probe.evals.metrics import binary_f1, mean_iou, pixel_accuracy
from sgt_probe.model.loading import load_model
from sgt_probe.sources.checkpoint import CheckpointSource


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    source = CheckpointSource(load_model(shared_base(tmp_path_factory)))
    with single_thread():
        return evaluate(source, n_scenes=12, proxies=("segmentation",))


@pytest.mark.parametrize(
    "bench, families, scored",
    [("understanding", QUESTION_FAMILIES, SCORED_FAMILIES),
     ("generation", PROMPT_FAMILIES, PROMPT_FAMILIES)],
)  # fmt: skip
def test_scores_are_means_of_the_per_item_results(result, bench, families, scored):
    """Each family's score is its items' mean; overall the mean of the scored families' (the
    few-label family, which no base is taught, is scored beside them but not in overall)."""
    r = result[bench]
    items = r["items"]
    assert {it["family"] for it in items} == set(r["families"]) <= set(families)
    for fam, score in r["families"].items():
        assert score == fmean(it["correct"] for it in items if it["family"] == fam)
    overall = fmean(v for f, v in r["families"].items() if f in scored)
    assert r["overall"] == pytest.approx(overall, abs=1e-12)
    if bench == "understanding":
        assert set(FEW_LABEL_FAMILIES) <= set(r["families"])


def test_understanding_items_are_scored_against_their_answers(result):
    items = result["understanding"]["items"]
    assert len(items) > result["n_scenes"]  # several questions per scene
    assert all(it["correct"] == (it["pred"] == it["answer"]) for it in items)
    assert all(0.0 <= it["p_answer"] <= 1.0 for it in items)
    assert 0.0 <= result["proxy_quality"]["segmentation_miou"] <= 1.0


@pytest.fixture
def labels():
    """Truth and prediction over 6 classes: class 4 appears only in the prediction and class 5
    in neither, the two cases mean_iou must treat as sklearn does on the present labels."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, size=(5, 16, 16))
    pred = np.where(rng.random(truth.shape) < 0.6, truth, rng.integers(0, 5, size=truth.shape))
    return truth, pred


def test_mean_iou_is_macro_jaccard_over_present_classes(labels):
    truth, pred = labels
    present = np.union1d(truth, pred)
    assert 4 in present and 5 not in present
    want = jaccard_score(truth.ravel(), pred.ravel(), labels=present, average="macro")
    assert mean_iou(truth, pred, n_classes=6) == pytest.approx(want, abs=1e-12)


def test_pixel_accuracy_is_accuracy(labels):
    truth, pred = labels
    assert pixel_accuracy(truth, pred) == pytest.approx(accuracy_score(truth.ravel(), pred.ravel()))


@pytest.mark.parametrize("share", [0.0, 0.1, 0.5])
def test_binary_f1_is_f1_of_the_positive_class(share):
    rng = np.random.default_rng(1)
    truth = rng.random((4, 12, 12)) < share
    pred = truth ^ (rng.random(truth.shape) < share / 2)
    # Both empty (share 0) is a perfect prediction: sklearn's zero_division=1.0.
    want = f1_score(truth.ravel(), pred.ravel(), zero_division=1.0)
    assert binary_f1(truth, pred) == pytest.approx(want, abs=1e-12)


def test_disk_cached_builds_once_per_key_and_rebuilds_a_damaged_file(tmp_path, monkeypatch):
    from sgt_probe.evals.benchmarks import cache_dir, disk_cached

    monkeypatch.setenv("SGT_PROBE_CACHE", str(tmp_path))
    built = []

    def build():
        built.append(1)
        return {"built": len(built)}

    assert disk_cached("thing", b"key", build) == {"built": 1}
    assert disk_cached("thing", b"key", build) == {"built": 1}  # read back, not built
    assert disk_cached("thing", b"other key", build) == {"built": 2}
    for f in cache_dir().glob("thing-*.json"):
        f.write_bytes(b"damaged")
    assert disk_cached("thing", b"key", build) == {"built": 3}


def test_cached_world_results_are_keyed_by_the_data_code(tmp_path, monkeypatch):
    """Priors and judge blobs are functions of the layout code as much as of the spec: a
    changed rule (say, how much occlusion a scene allows) must not reuse the old renders."""
    import shutil

    from sgt_probe.evals import benchmarks

    copy = tmp_path / "data"
    shutil.copytree(Path(benchmarks.data_package.__file__).parent, copy)
    monkeypatch.setattr(benchmarks.data_package, "__file__", str(copy / "__init__.py"))
    before = benchmarks._world_key(SPEC)
    assert benchmarks._world_key(SPEC) == before
    world = copy / "world.py"
    world.write_text(world.read_text().replace("MIN_VISIBLE = ", "MIN_VISIBLE = 0.01 + "))
    assert benchmarks._world_key(SPEC) != before


def test_the_blind_answerers_priors_from_disk_are_the_counted_ones(tmp_path, monkeypatch):
    from collections import Counter

    from sgt_probe.evals import benchmarks

    monkeypatch.setenv("SGT_PROBE_CACHE", str(tmp_path))
    monkeypatch.setattr(benchmarks, "PRIOR_SCENES", 50)
    benchmarks._answer_counts.cache_clear()
    first = benchmarks._answer_counts(SPEC)
    benchmarks._answer_counts.cache_clear()
    assert benchmarks._answer_counts(SPEC) == first  # now from disk
    benchmarks._answer_counts.cache_clear()
    want: dict[str, Counter] = {}
    for scene in make_world(SPEC).scenes(0, 50):
        for qa in scene.questions:
            want.setdefault(qa.family, Counter())[qa.answer] += 1
    assert first == want


def test_generation_is_guided_only_when_the_model_learned_to_draw_without_a_prompt(
    monkeypatch, tmp_path_factory
):
    from sgt_probe.evals import benchmarks

    class Data:  # two prompts; an item is (prompt, unconditional)
        def __len__(self):
            return 2

        def generation(self, i, with_target=True, unconditional=False):
            return ("" if unconditional else f"prompt {i}", with_target)

    class Source:
        def __init__(self, guidable):
            self.guidable, self.calls = guidable, []

        def generate_codes(self, items, temperature=0.0, **guide):
            self.calls.append((items, temperature, guide))
            return np.zeros((len(items), 4), dtype=np.int64)

        def decode(self, codes):
            return np.zeros((len(codes), 8, 8, 3), dtype=np.uint8)

    monkeypatch.setattr(benchmarks, "GENERATION_GUIDANCE", 2.5)
    plain, guided = Source(False), Source(True)
    for source in (plain, guided):
        assert benchmarks.generate_images(source, Data()).shape == (2, 8, 8, 3)
    prompts = [("prompt 0", False), ("prompt 1", False)]
    assert plain.calls == [(prompts, benchmarks.GENERATION_TEMPERATURE, {})]
    unconditional = [("", False), ("", False)]
    assert guided.calls == [(prompts, benchmarks.GENERATION_TEMPERATURE,
                             {"unconditional": unconditional, "guidance": 2.5})]  # fmt: skip
    # the tiny preset drops no prompts: its checkpoints are not guided
    assert not CheckpointSource(load_model(shared_base(tmp_path_factory))).guidable


def test_palette_share_counts_pixels_near_a_non_background_palette_colour():
    from sgt_probe.data.proxies import SEG_PALETTE
    from sgt_probe.evals.leak import NEAR, palette_share

    img = np.full((1, 8, 8, 3), 128, np.uint8)  # mid gray: no palette colour
    img[0, :2] = SEG_PALETTE[1]  # 16 pixels exactly a class colour
    img[0, 2, :4] = np.clip(SEG_PALETTE[2].astype(int) + int(NEAR) // 2, 0, 255)  # 4 near one
    img[0, 3] = SEG_PALETTE[0]  # black background: not counted
    assert palette_share(img, n_classes=5)[0] == pytest.approx((16 + 4) / 64)


def test_the_leak_detector_tells_maps_from_scenes_on_held_out_renders():
    from sgt_probe.evals.leak import LeakDetector, labelled_set

    world = make_world(SPEC)
    detector = LeakDetector(len(world.class_names), labelled_set(world, "train", 40))
    check = detector.validate(labelled_set(world, "eval", 30))
    assert check.accuracy > 0.95 and check.n == 4 * 30
    assert check.called_map["scene"] < 0.05 and check.called_map["segmentation"] > 0.95
    scene = world.scene(world.split("eval")[40])
    from sgt_probe.data.proxies import render_proxy

    seg = render_proxy(scene, "segmentation", len(world.class_names))[1]
    assert detector.is_map(np.stack([scene.image, seg])).tolist() == [False, True]
