"""Runs that survive SIGKILL, and DDP runs that compute what one process computes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import helpers_train
import pytest
import torch
from helpers_train import train_tiny

from sgt_probe.checkpoint import CheckpointError, load_checkpoint

DRIVER = helpers_train.__file__
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def driver(out, *args) -> list[str]:
    return [sys.executable, DRIVER, str(out), *args]


def losses(history: list[dict]) -> list[dict]:
    """History without the wall-clock throughput, which no two runs share."""
    return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in history]


def checkpoint_step(path) -> int:
    try:
        return load_checkpoint(path).step
    except CheckpointError:  # not written yet
        return 0


def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    run = ("steps=40", "ckpt_every=10")
    killed, reference = tmp_path / "killed.pt", tmp_path / "reference.pt"
    # Both start together: the reference costs no extra wall time on two cores.
    ref = subprocess.Popen(driver(reference, *run), env=ENV, stderr=subprocess.PIPE)
    victim = subprocess.Popen(driver(killed, *run), env=ENV, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while checkpoint_step(killed) < 10:
            assert victim.poll() is None, victim.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint at step 10 within 240 s"
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait() == -signal.SIGKILL
        assert ref.wait(timeout=240) == 0, ref.stderr.read().decode()
    finally:
        for p in (ref, victim):
            p.kill()
            p.wait()
    assert 10 <= load_checkpoint(killed).step < 40  # it really died mid-run

    subprocess.run(driver(killed, *run, "--resume"), env=ENV, check=True, timeout=240)

    got, want = load_checkpoint(killed), load_checkpoint(reference)
    assert got.step == want.step == 40
    assert got.state_dict.keys() == want.state_dict.keys()
    for name, w in want.state_dict.items():
        assert torch.equal(got.state_dict[name], w), name
    assert losses(got.history) == losses(want.history)
    # the metrics log beside it reads like the uninterrupted run's: no step logged twice
    read = [json.loads(line) for line in killed.with_suffix(".log.jsonl").read_text().splitlines()]
    ref_log = reference.with_suffix(".log.jsonl").read_text().splitlines()
    assert [r["step"] for r in read] == [json.loads(line)["step"] for line in ref_log]


def test_two_ddp_processes_match_one_process_at_the_same_global_batch(tmp_path):
    run = {"steps": 30, "ckpt_every": 30}
    args = [f"{k}={v}" for k, v in run.items()]
    two = tmp_path / "two.pt"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    subprocess.run(
        [*torchrun, DRIVER, str(two), *args], env=ENV, check=True, timeout=300,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    got = load_checkpoint(two)
    want = load_checkpoint(train_tiny(tmp_path / "one.pt", **run))
    # The same codebook, or the comparison below would be of different data.
    assert torch.equal(got.tokenizer["codebook"], want.tokenizer["codebook"])
    got_h, want_h = losses(got.history), losses(want.history)
    assert [r.keys() for r in got_h] == [r.keys() for r in want_h]
    for g, w in zip(got_h, want_h, strict=True):
        for k in w:
            assert g[k] == pytest.approx(w[k], rel=1e-4), (w["step"], k)
