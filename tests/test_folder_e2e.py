"""A folder of the user's own images trained, tuned, evaluated and compared through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers_train import TINY_MODEL, single_thread
from PIL import Image

from sgt_probe.checkpoint import load_checkpoint
from sgt_probe.cli import main
from sgt_probe.data import DataSpec, make_world
from sgt_probe.model.config import PRESETS, RECIPES, ModelConfig, Preset, TrainConfig, replace
from sgt_probe.report.format import key_generations, load_report
from sgt_probe.report.schema import SUITES

SIZE = 32
COUNT_WORDS = ["zero", "one", "two", "three"]


def make_folder(root: Path, n: int = 40, seed: int = 0, name_objects: bool = True) -> Path:
    """n 32x32 images of up to two cats (class 1, red squares) and a dog (class 2, a blue
    square) on grey noise, with masks and annotations. Blobs never touch, so each is one object
    and instance ids follow the folder world's numbering: cats top to bottom, then the dog.
    Without `name_objects` the questions do not say which objects they are about."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.json").write_text(json.dumps(["background", "cat", "dog"]))
    rng = np.random.default_rng(seed)
    lines = []
    for k in range(n):
        name = f"img{k:03d}.png"
        n_cats, dog = int(rng.integers(0, 3)), bool(rng.integers(0, 2))
        mask = np.zeros((SIZE, SIZE), np.uint8)
        rows = sorted(rng.choice([1, 12, 23], size=n_cats, replace=False))
        for column, row in zip((1, 12), rows, strict=False):  # columns apart: blobs never touch
            mask[row : row + 7, column : column + 7] = 1
        if dog:
            row = int(rng.integers(1, SIZE - 8))
            mask[row : row + 7, 23:30] = 2
        image = rng.integers(100, 140, (SIZE, SIZE, 3), dtype=np.uint8)
        image[mask == 1], image[mask == 2] = (220, 60, 40), (40, 90, 220)
        Image.fromarray(image).save(root / "images" / name)
        Image.fromarray(mask, mode="L").save(root / "masks" / name)
        cats = list(range(1, n_cats + 1))
        questions = [
            {"family": "count", "question": "how many cats are there",
             "answer": COUNT_WORDS[n_cats], "choices": COUNT_WORDS, "objects": cats},
            {"family": "existence", "question": "is there a dog", "answer": "yes" if dog else "no",
             "choices": ["yes", "no"], "objects": [n_cats + 1] if dog else []},
        ]  # fmt: skip
        if not name_objects:
            for q in questions:
                del q["objects"]
        named = [w for w, there in (("a cat", n_cats), ("a dog", dog)) if there] or ["a floor"]
        family = "two_objects" if len(named) == 2 else "single_object"
        prompt = {"family": family, "text": " and ".join(named)}
        lines.append(json.dumps({"image": name, "prompt": prompt, "questions": questions}))
    (root / "annotations.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def tiny(monkeypatch):
    """The `tiny` preset shrunk until train and tune take a second or two."""
    short = {"batch_size": 8, "warmup": 2, "ckpt_every": 10, "log_every": 10}
    tune = TrainConfig(steps=10, **short)
    monkeypatch.setitem(PRESETS, "tiny", Preset(
        "tiny", ModelConfig(preset="tiny", **TINY_MODEL), TrainConfig(steps=20, **short),
        {name: replace(tune, **settings) for name, settings in RECIPES.items()},
    ))  # fmt: skip


def test_train_tune_eval_and_compare_a_folder_world(tmp_path, tiny, capsys):
    folder = make_folder(tmp_path / "data")
    base, seg, result, report = (tmp_path / n for n in ("base.pt", "seg.pt", "e.json", "report"))
    cpu = ["--device", "cpu"]
    with single_thread():
        assert (
            main(["train", "--world", "folder", "--path", str(folder), "--out", str(base), *cpu])
            == 0
        )
        assert main(["tune", str(base), "--proxy", "segmentation", "--out", str(seg), *cpu]) == 0
        assert main(["eval", str(seg), "--out", str(result), *cpu]) == 0
        assert main(["compare", str(base), str(seg), "--out", str(report), "--n-scenes", "16",
                     "--n-probe-scenes", "16", *cpu]) == 0  # fmt: skip
    printed = capsys.readouterr()
    assert "generation skipped: the generation judge needs a generated world" in printed.err
    assert "color probe skipped" in printed.out  # under compare's tables

    world = make_world(DataSpec(world="folder", path=str(folder)))
    held_out = world.split("eval")
    assert 0 < len(held_out) < 16 and len(world.split("train")) == 40 - len(held_out)
    assert load_checkpoint(base)["data_spec"]["path"] == str(folder)
    assert (load_checkpoint(base)["step"], load_checkpoint(seg)["step"]) == (20, 10)

    # the eval reads every held-out image's two questions, and no training image
    r = json.loads(result.read_text())
    assert r["n_scenes"] == len(held_out)
    assert sorted(it["scene"] for it in r["understanding"]["items"]) == sorted(2 * held_out)
    assert r["generation"]["items"] == [] and "generated world" in r["generation"]["skipped"]
    assert 0 <= r["proxy_quality"]["segmentation_miou"] <= 1

    loaded = load_report(report)
    d = loaded.data
    assert d.suites == list(SUITES)
    assert set(d.skipped) == {"generation", "color probe", "color lens"}
    assert "generated world" in d.skipped["generation"]
    assert "gives its objects no colors" in d.skipped["color lens"]
    assert d.data.eval_fraction == 0.2
    for name in ("base", "segmentation"):
        assert set(d.probes.targets[name]) == {"semantic_class", "object_count"}
        assert set(d.alignment.checkpoints[name].lens) == {"semantic_class"}  # no color words
        generation = d.benchmarks.scores[name].generation
        assert (generation.overall, generation.families) == (None, {})
        assert len(d.attention.stats[name].grounded.precision) == TINY_MODEL["n_layers"]
        assert key_generations(name) not in loaded.arrays  # nothing drawn that nobody judges
    assert d.benchmarks.generations.items == []
    assert not [x for x in d.benchmarks.deltas if x.benchmark == "generation"]
    samples = d.attention.explorer
    assert samples and {s.index for s in samples} <= set(held_out)
    assert "generation skipped" in (report / "report.html").read_text()


def test_without_questions_that_name_objects_the_attention_explorer_is_skipped(tmp_path, tiny):
    folder = make_folder(tmp_path / "data", n=24, name_objects=False)
    base, report = tmp_path / "base.pt", tmp_path / "report"
    cpu = ["--device", "cpu"]
    with single_thread():
        assert main(["train", "--world", "folder", "--path", str(folder), "--out", str(base),
                     "--steps", "2", *cpu]) == 0  # fmt: skip
        assert main(["compare", str(base), str(base), "--out", str(report), "--n-scenes", "8",
                     "--n-probe-scenes", "8", "--suites", "attention", *cpu]) == 0  # fmt: skip
    loaded = load_report(report)
    d = loaded.data
    assert set(d.skipped) == {"attention explorer"}  # the other suites did not run
    assert "names an object" in d.skipped["attention explorer"]
    assert d.attention.explorer == [] and not [k for k in loaded.arrays if "explorer" in k]
    assert all(s.grounded is None for s in d.attention.stats.values())
    assert "attention explorer skipped" in (report / "report.html").read_text()


def test_a_folder_too_small_to_split_is_refused_before_training(tmp_path, tiny, capsys):
    folder = make_folder(tmp_path / "data", n=1)
    out = tmp_path / "base.pt"
    assert main(["train", "--world", "folder", "--path", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {folder}: 1 images split into") and "\n" not in err
    assert not out.exists() and not out.with_suffix(".log.jsonl").exists()


def test_a_bad_folder_file_is_one_line_naming_it_before_training(tmp_path, tiny, capsys):
    folder = make_folder(tmp_path / "data", n=10)
    notes = folder / "annotations.jsonl"
    lines = notes.read_text().splitlines()
    notes.write_text("\n".join([*lines[:2], "{not json", *lines[3:]]) + "\n")
    out = tmp_path / "base.pt"
    assert main(["train", "--world", "folder", "--path", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {notes} line 3: malformed JSON") and err.count("\n") == 1
    assert not out.exists() and not out.with_suffix(".log.jsonl").exists()
