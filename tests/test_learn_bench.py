"""benchmarks/learn_bench.py --watch: which checkpoints of a watched run get evaluated."""

import importlib.util
from argparse import Namespace
from pathlib import Path
from types import SimpleNamespace

import pytest

from sgt_probe import checkpoint

_SPEC = importlib.util.spec_from_file_location(
    "learn_bench", Path(__file__).parents[1] / "benchmarks" / "learn_bench.py"
)
learn_bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(learn_bench)


def watched(states, steps, tmp_path):
    """The steps `watch` evaluates while the run's file passes through `states`, a list of
    (step, the run's own step budget), one per poll."""
    path = tmp_path / "run.pt"
    path.touch()
    polls = iter(states)
    seen = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(checkpoint, "load_checkpoint", lambda p: _ckpt(*next(polls)))
        args = Namespace(watch=path, every=2000, steps=steps)
        learn_bench.watch(args, seen.append, poll=0)
    return seen


def _ckpt(step, total):
    return SimpleNamespace(step=step, train_config={"steps": total})


def test_a_finished_run_is_evaluated_once(tmp_path):
    assert watched([(6000, 6000)], None, tmp_path) == [6000]


def test_a_run_in_progress_is_evaluated_at_each_multiple_and_at_its_end(tmp_path):
    states = [(500, 5000), (1500, 5000), (2500, 5000), (3000, 5000), (4500, 5000), (5000, 5000)]
    assert watched(states, None, tmp_path) == [2500, 4500, 5000]


def test_an_extended_run_is_watched_to_steps_not_to_its_old_end(tmp_path):
    # --resume --steps 14000 over a finished 6,000-step run: the file says 6000 of 6000 until
    # the resumed run writes its first checkpoint
    states = [(6000, 6000), (6000, 6000), (6500, 14000), (8000, 14000), (14000, 14000)]
    assert watched(states, 14000, tmp_path) == [6000, 8000, 14000]
