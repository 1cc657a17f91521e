"""The bases in sgt_probe/bases/: each loads like any checkpoint, and its scores file is what
this checkpoint scores on the world the current code renders (a changed layout rule, or a
retrained base without a re-run eval, leaves the file describing another experiment)."""

from __future__ import annotations

import json

import pytest
from helpers_train import single_thread

from sgt_probe.bases import BASES_DIR
from sgt_probe.evals.benchmarks import evaluate
from sgt_probe.model.loading import load_model
from sgt_probe.sources.checkpoint import CheckpointSource

BASES = sorted(BASES_DIR.glob("*.pt"))
N_SCENES = 12  # re-scored here; the file holds 512


def test_there_is_a_shipped_base():
    assert BASES, BASES_DIR


@pytest.mark.parametrize("path", BASES, ids=lambda p: p.stem)
def test_a_shipped_base_matches_its_name_and_its_scores(path):
    world, preset = path.stem.split("-")
    loaded = load_model(path)  # weights_only, validated
    assert (loaded.ckpt.stage, loaded.spec.world, loaded.cfg.preset) == ("base", world, preset)
    assert loaded.ckpt.step == loaded.train.steps  # a finished run
    assert path.with_suffix(".log.jsonl").is_file()
    scores = json.loads(path.with_suffix(".scores.json").read_text())
    assert scores["n_scenes"] >= 512
    with single_thread():
        now = evaluate(CheckpointSource(loaded), N_SCENES, proxies=(), generation=False)
    items = now["understanding"]["items"]
    kept = scores["understanding"]["items"][: len(items)]
    assert [(i["scene"], i["family"], i["answer"]) for i in items] == [
        (i["scene"], i["family"], i["answer"]) for i in kept
    ]  # the same questions: the world still renders these scenes
    assert [i["pred"] for i in items] == [i["pred"] for i in kept]
    assert [i["p_answer"] for i in items] == pytest.approx([i["p_answer"] for i in kept], abs=1e-3)
