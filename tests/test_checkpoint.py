"""Checkpoints: exact round trip, safe loading, one-line errors for every kind of bad file."""

from __future__ import annotations

import os
import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers_train import SPEC, checkpoint_contents, shared_base

from sgt_probe.checkpoint import (
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    Origin,
    atomic_dir,
    load_checkpoint,
    save_checkpoint,
)
from sgt_probe.cli import main
from sgt_probe.model.config import TrainConfig
from sgt_probe.model.loading import load_model
from sgt_probe.model.vocab import Vocab

PLAIN = (torch.Tensor, dict, list, tuple, str, int, float, bool, type(None))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return shared_base(tmp_path_factory)


@pytest.fixture(scope="module")
def contents() -> dict:
    return checkpoint_contents()


def test_round_trip_is_exact(tmp_path, contents):
    saved = contents
    path = save_checkpoint(tmp_path / "c.pt", Checkpoint(**saved))
    loaded = load_model(path)
    state = loaded.model.state_dict()
    assert state.keys() == saved["state_dict"].keys()
    assert all(torch.equal(state[k], v) for k, v in saved["state_dict"].items())
    assert loaded.vocab == Vocab.from_dict(saved["vocab"])
    assert loaded.cfg.to_dict() == saved["model_config"]
    assert loaded.spec == SPEC
    assert torch.equal(loaded.tokenizer.state_dict()["codebook"], saved["tokenizer"]["codebook"])
    ckpt = loaded.ckpt
    assert loaded.train.to_dict() == saved["train_config"] == ckpt.train_config
    assert ckpt.history == saved["history"]
    assert (ckpt.step, ckpt.stage, ckpt.format_version) == (2, "base", FORMAT_VERSION)
    assert (ckpt.parent, ckpt.optimizer, ckpt.resumable) == (None, None, False)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() makes it, not owner-only


def test_to_dict_and_from_dict_are_inverse_and_keep_the_file_keys(contents):
    parent = Origin("base.pt", 300, TrainConfig().to_dict())
    ckpt = Checkpoint(**{**contents, "stage": "tune", "proxy": "edge", "parent": parent})
    d = ckpt.to_dict()
    # the keys files have always had; an unset part (init, optimizer...) is left out
    assert set(d) == {"format", "format_version", "model_config", "train_config", "state_dict",
                      "vocab", "tokenizer", "data_spec", "history", "step", "stage", "proxy",
                      "parent"}  # fmt: skip
    assert d["parent"] == {"path": "base.pt", "step": 300, "train_config": parent.train_config}
    assert Checkpoint.from_dict(d, "c.pt") == ckpt
    assert Origin.from_dict({"path": "b.pt", "step": 3}, "c.pt: init") == Origin("b.pt", 3)


def test_an_unknown_part_is_a_one_line_error_naming_it(tmp_path, contents):
    path = tmp_path / "c.pt"
    torch.save({**Checkpoint(**contents).to_dict(), "optimiser": {}}, path)
    with pytest.raises(CheckpointError, match=f"^{path}: checkpoint has an unknown part "
                       "'optimiser'$"):  # fmt: skip
        load_checkpoint(path)


def walk(x):
    yield x
    if isinstance(x, dict):
        for k, v in x.items():
            yield from walk(k)
            yield from walk(v)
    elif isinstance(x, list | tuple):
        for v in x:
            yield from walk(v)


def test_a_trained_checkpoint_holds_only_tensors_and_plain_containers(base):
    ckpt = torch.load(base, weights_only=True)
    assert ckpt["format"] == "sgt-probe-checkpoint" and ckpt["step"] == 300
    assert {type(x) for x in walk(ckpt) if not isinstance(x, PLAIN)} == set()


def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, contents, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pt", Checkpoint(**contents))

    def dies_midway(obj, f):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, Checkpoint(**{**contents, "step": 3}))
    assert load_checkpoint(path).step == 2
    assert os.listdir(tmp_path) == ["c.pt"]  # no temp file left behind


class RunsCode:
    """Unpickling this calls os.system: what a hostile .pt would do."""

    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def write_torch_code(path, sentinel):
    torch.save({"format": "sgt-probe-checkpoint", "format_version": 1, "x": RunsCode(sentinel)},
               path)  # fmt: skip


def write_pickle_code(path, sentinel):
    with open(path, "wb") as f:
        pickle.dump({"x": RunsCode(sentinel)}, f, protocol=2)


@pytest.mark.parametrize("write", [write_torch_code, write_pickle_code])
def test_a_checkpoint_holding_code_is_refused_without_running_it(tmp_path, write, capsys):
    path, sentinel = tmp_path / "hostile.pt", tmp_path / "SENTINEL"
    write(path, sentinel)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert main(["eval", str(path)]) == 2
    stderr = capsys.readouterr().err.strip()
    assert "\n" not in stderr and str(path) in stderr
    assert not sentinel.exists()


def truncated(path, base):
    data = base.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def random_bytes(path, base):
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def unstamped_dict(path, base):
    torch.save({"state_dict": {"w": torch.ones(2)}, "step": 1}, path)


def other_version(path, base):
    save_checkpoint(path, replace(load_checkpoint(base), format_version=FORMAT_VERSION + 1))


def missing_parts(path, base):
    torch.save({k: v for k, v in load_checkpoint(base).to_dict().items() if k != "state_dict"},
               path)  # fmt: skip


def missing_file(path, base):
    pass


@pytest.mark.parametrize(
    "make, reason",
    [
        (truncated, "truncated"),
        (random_bytes, "not a readable checkpoint"),
        (unstamped_dict, "not an sgt-probe checkpoint"),
        (other_version, f"version {FORMAT_VERSION + 1}"),
        (missing_parts, "missing state_dict"),
        (missing_file, "no such"),
    ],
)
def test_a_bad_file_gets_a_one_line_error_naming_it(tmp_path, base, make, reason, capsys):
    path = tmp_path / "bad.pt"
    make(path, base)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ") and reason in msg
    assert main(["eval", str(path)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {msg}"


def test_a_directory_is_no_checkpoint_and_the_cli_says_what_it_lacks(tmp_path, capsys):
    path = tmp_path / "bad.pt"
    path.mkdir()
    with pytest.raises(CheckpointError, match=f"^{path}: is a directory, not a checkpoint file$"):
        load_checkpoint(path)
    # the CLI reads a directory as a Hugging Face model directory (tests/test_emu3.py)
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: not a model directory (no config.json)")
    assert "\n" not in err


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    path = tmp_path / "model"
    with atomic_dir(path) as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(path) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("a crash while writing")
    assert sorted(p.name for p in path.iterdir()) == ["old.txt"]
    with atomic_dir(path) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in path.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o777 & ~umask  # others read it as they would a mkdir
