"""Attention statistics reduced inside the hooks: the numbers of the stacked computation, at a
fraction of its memory (sgt_probe/attention/reduce.py, benchmarks/attention_memory.py)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_train import single_thread

from sgt_probe.capture.bridge import pattern_name
from sgt_probe.compare.suites.attention import text_image_attention, text_queries
from sgt_probe.model.sequences import ROLE_IMAGE

BENCH = Path(__file__).parents[1] / "benchmarks" / "attention_memory.py"
_SPEC = importlib.util.spec_from_file_location("attention_memory", BENCH)
attention_memory = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(attention_memory)


@pytest.fixture(scope="module")
def built():
    """A random 3-layer decoder and the suite's kinds of items over a 12 x 12 image grid."""
    args = attention_memory.parse_args(["--width", "32", "--heads", "2", "--layers", "3",
                                        "--n-qa", "5", "--n-proxy", "3"])  # fmt: skip
    with single_thread():
        return attention_memory.build(args, 144)


def test_streamed_statistics_equal_the_stacked_ones(built):
    built.objects = [0 if k == 2 else o for k, o in enumerate(built.objects)]  # one names nothing
    with single_thread():
        runs = [attention_memory.suite_stats(built, batch_size=2, n_boot=50, stream=stream)
                .model_dump() for stream in (True, False)]  # fmt: skip
    streamed, stacked = (attention_memory.leaves(r) for r in runs)
    assert streamed.keys() == stacked.keys()
    assert runs[0]["grounded"]["n"] == 4 and runs[0]["mass"]["generated->input"] is not None
    allocation = runs[0]["allocation"]  # every statistic is compared, allocation's included
    assert allocation["generated_to_prompt"]["n"] == 3 and allocation["cue_to_question"]["n"] == 5
    assert attention_memory.max_diff(runs[0], runs[1]) <= 1e-6


def test_the_explorer_keeps_the_rows_and_columns_of_the_whole_patterns(built):
    runner, qa = built.runner, built.qa
    with single_thread():
        maps = text_image_attention(runner, qa[:3], batch_size=2)
        batch = next(runner.batches(qa[:3], 3))[2]
        _, cache = runner.run(batch, [pattern_name(layer) for layer in range(runner.n_layers)])
    roles = batch["roles"]
    for j in range(3):
        q = text_queries(roles[j]).nonzero()[:, 0]
        k = (roles[j] == ROLE_IMAGE).nonzero()[:, 0]
        for layer in range(runner.n_layers):
            whole = cache[pattern_name(layer)][j][:, q][:, :, k].to(torch.float16).numpy()
            np.testing.assert_array_equal(maps[j, layer, :, : len(q)], whole)


def test_streaming_holds_under_a_quarter_of_the_stacked_peak():
    argv = [sys.executable, str(BENCH), "--width", "64", "--heads", "4", "--layers", "8",
            "--lengths", "501"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr  # 1: the statistics differ
    last = done.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"attention peak: stacked (\d+) MiB, streamed (\d+) MiB \(T=501, L=8\)", last)
    assert m, last
    stacked, streamed = int(m[1]), int(m[2])
    assert streamed <= stacked / 4, last
