"""Tiny training runs for the training, checkpoint, distributed and evaluation tests.

The model and data are shrunk until a few hundred steps take seconds on two busy cores; the
loop, runner and checkpoint code are the real ones. The file is also a command-line driver, so
tests can train in separate processes (to SIGKILL one, or to launch two under torchrun):

    python tests/helpers_train.py OUT [--resume] [key=value ...]   # TrainConfig overrides
"""

from __future__ import annotations

import ast
import contextlib
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from filelock import FileLock

from sgt_probe.data import DataSpec, make_world
from sgt_probe.model.config import ModelConfig, TrainConfig
from sgt_probe.model.loading import build_model
from sgt_probe.model.vocab import Vocab
from sgt_probe.sources.tuning import tune
from sgt_probe.tokenizer import VQTokenizer, fit_tokenizer
from sgt_probe.tuning import runner

SPEC = DataSpec(world="shapes", seed=0)
TINY_MODEL = {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64, "n_codes": 64}
TINY_TRAIN = {
    "n_scenes": 200, "batch_size": 8, "steps": 300, "warmup": 10, "ckpt_every": 50,
    "log_every": 50,
}  # fmt: skip
TINY_TUNE = {"n_scenes": 200, "batch_size": 8, "steps": 200, "ckpt_every": 50, "log_every": 50}


@contextlib.contextmanager
def single_thread():
    """One torch thread for the duration. On two cores shared with other test processes, two
    intra-op threads spin-wait on each other and a tiny step gets ~15x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@functools.cache
def _tokenizer(
    spec: DataSpec, n_codes: int, seed: int, kind: str = "kmeans", scene_repeat: int = 1
):
    # 64 scenes instead of 512: plenty for a 64-code codebook, and ~1 s instead of ~4 s.
    return fit_tokenizer(make_world(spec), n_scenes=64, n_codes=n_codes, seed=seed, kind=kind,
                         scene_repeat=scene_repeat)  # fmt: skip


def _cached_fit(world, n_codes: int, seed: int, kind: str = "kmeans", scene_repeat: int = 1):
    return _tokenizer(world.spec, n_codes, seed, kind, scene_repeat)


@contextlib.contextmanager
def _fast():
    # The k-means fit is the same for every run with the same spec and seed: do it once per
    # process, and small.
    with single_thread(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "fit_tokenizer", _cached_fit)
        yield


def train_tiny(out: str | Path, resume: bool = False, **overrides) -> Path:
    """Base-train the tiny model on SPEC; `overrides` replace TINY_TRAIN's TrainConfig fields."""
    with _fast():
        return runner.train_base(
            SPEC, out, "tiny", ModelConfig.overrides(**TINY_MODEL),
            TrainConfig.overrides(**{**TINY_TRAIN, **overrides}), resume=resume, device="cpu",
            progress=False,
        )  # fmt: skip


def tune_tiny(
    base: str | Path,
    out: str | Path,
    proxy: str = "segmentation",
    resume: bool = False,
    **overrides,
) -> Path:
    with _fast():
        return tune(base, proxy, out, TrainConfig.overrides(**{**TINY_TUNE, **overrides}),
                    resume=resume, device="cpu", progress=False)  # fmt: skip


def checkpoint_contents() -> dict:
    """Everything a checkpoint describes, built directly (not by training, so in about a
    second), for tests that compare what they save with what is loaded or that break it."""
    world = make_world(SPEC)
    vocab = Vocab.build(world.words(), TINY_MODEL["n_codes"])
    model = build_model(ModelConfig(**TINY_MODEL), vocab, seed=3)
    images = np.stack([s.image for s in world.scenes(0, 8)])
    tokenizer = VQTokenizer(n_codes=TINY_MODEL["n_codes"], seed=1).fit(images)
    return {
        "stage": "base", "proxy": None, "parent": None, "step": 2,
        "model_config": model.cfg.to_dict(), "train_config": TrainConfig(**TINY_TRAIN).to_dict(),
        "vocab": vocab.to_dict(), "tokenizer": tokenizer.state_dict(),
        "data_spec": SPEC.to_dict(), "state_dict": model.state_dict(),
        "history": [{"step": 1, "loss": 4.5, "loss/understanding": 1 / 3}, {"step": 2}],
    }  # fmt: skip


_SHARED: dict[str, Path] = {}


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]
) -> Path:
    """`build(path)` run once per test run, whichever pytest-xdist worker (or the only process)
    asks first; the others wait on a file lock and get the same path. Callers must not modify
    what it holds."""
    if name in _SHARED:
        return _SHARED[name]
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    path, finished = root / "built-once" / name, root / "built-once" / f"{name}.done"
    path.parent.mkdir(exist_ok=True)
    with FileLock(f"{path}.lock"):
        if not finished.exists():
            build(path)
            finished.touch()
    _SHARED[name] = path
    return path


def shared_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 300-step base checkpoint for the whole test run; callers must not modify it."""
    return built_once(tmp_path_factory, "base.pt", train_tiny)


def main(argv: list[str]) -> None:
    out, *rest = argv
    overrides = dict(arg.split("=", 1) for arg in rest if arg != "--resume")
    train_tiny(out, "--resume" in rest, **{k: ast.literal_eval(v) for k, v in overrides.items()})


if __name__ == "__main__":
    main(sys.argv[1:])
