"""The pipeline on Ray (sgt_probe.pipeline; docs/ray.md): a study run on a two-node cluster
through its address, a worker killed mid-tuning and retried to the undisturbed result, and the
errors that stop a study in one line.

One two-node cluster on 127.0.0.1 (`ray.cluster_utils.Cluster`: two raylets of one CPU each,
started by this process) serves the module; each study joins it as `--address` does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
from dataclasses import replace

import psutil
import pytest
import torch
from helpers_train import TINY_MODEL, TINY_TRAIN, TINY_TUNE, shared_base

from sgt_probe import pipeline
from sgt_probe.checkpoint import load_checkpoint
from sgt_probe.cli.reproduce import run_study
from sgt_probe.compare.config import CompareConfig
from sgt_probe.model.config import ModelConfig, PresetOverrides, TrainConfig
from sgt_probe.pipeline import ClusterError, Run, job_graph, run_pipeline, task_name, tunings
from sgt_probe.report.format import load_report
from sgt_probe.tuning import log_path

# the tiny preset shrunk as tests/test_reproduce.py does; compares of the benchmarks only
MICRO = PresetOverrides(ModelConfig.overrides(**TINY_MODEL),
                        TrainConfig.overrides(**{**TINY_TRAIN, "steps": 40}),
                        TrainConfig.overrides(**{**TINY_TUNE, "steps": 20}))  # fmt: skip
BENCH = CompareConfig(n_scenes=12, n_probe_scenes=12, n_boot=50, suites=("benchmarks",),
                      generation=False)  # fmt: skip
NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False}


def _start_cluster():
    from ray.cluster_utils import Cluster

    # a raylet whose Python agents start slowly on a busy machine exits (as in
    # pipeline.START_TRIES): try again, with a new cluster
    for attempt in range(3):
        cluster = Cluster()
        try:
            cluster.add_node(**NODE)
            cluster.add_node(**NODE)
            cluster.wait_for_nodes()
            return cluster
        except Exception:
            cluster.shutdown()
            if attempt == 2:
                raise


@pytest.fixture(scope="module")
def cluster():
    """The two nodes, and this process set to join them at 127.0.0.1. Ray dials a loopback
    address at this machine's network address (where a cluster on 127.0.0.1 does not listen,
    and a driver joining it waits for ever) unless it takes the machine for one without a
    network, as it does on macOS and Windows: ENABLE_RAY_CLUSTER off. RAY_TMPDIR keeps the
    nodes' sessions and Ray's note of the latest cluster out of /tmp/ray, where they would
    point a user's `ray status` at this cluster. The nodes start as the pipeline's local Ray
    does (pipeline.RAY_ENV: workers not niced below the suite's other tests)."""
    from ray._private import ray_constants

    temp_dir = tempfile.mkdtemp(prefix="sgt-ray-test-", dir="/tmp")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
        mp.setenv("RAY_TMPDIR", temp_dir)
        for name, value in pipeline.RAY_ENV.items():
            mp.setenv(name, value)
        cluster = _start_cluster()
        try:
            yield cluster
        finally:
            cluster.shutdown()
            shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def one_thread_jobs(monkeypatch):
    """--jobs 2 on 2 cores, wherever the suite runs: each job asks for one CPU, a node's all."""
    monkeypatch.setattr(pipeline, "cores", lambda: 2)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return shared_base(tmp_path_factory)


def test_a_study_joins_a_cluster_by_address_and_runs_on_both_nodes(
    cluster, base, one_thread_jobs, tmp_path, monkeypatch
):
    ran = []
    monkeypatch.setattr("sgt_probe.cli.reproduce.run_pipeline",
                        lambda *a, **k: ran.append(run_pipeline(*a, **k)))  # fmt: skip
    proxies = ["none", "segmentation"]
    reports = run_study(tmp_path, "tiny", 1, ["shapes"], proxies, "cpu", BENCH, MICRO, jobs=2,
                        bases={"shapes": base}, address=cluster.address)  # fmt: skip
    assert load_report(reports[0]).names == ["base", *proxies]
    # the base copied in here; two tunings of one CPU each at once on two one-CPU nodes: both
    nodes = {node.node_id for node in cluster.list_all_nodes()}
    assert {done.node for done in ran[0].done if done.job.kind != "base"} == nodes


def _kill_mid_run(job, steps: int, killed: list, stop: threading.Event) -> None:
    """SIGKILL the Ray worker running `job` once its log shows a step past the first checkpoint
    and short of the last; record that step."""
    title, log = f"ray::{task_name(job)}", log_path(job.output)
    while not stop.is_set():
        try:
            step = json.loads(log.read_text().splitlines()[-1])["step"]
        except (OSError, IndexError, ValueError):  # no log yet, or a line half written
            step = 0
        if step >= steps:
            return  # finished before it could be hit: the test fails on `killed`
        if step:
            for proc in psutil.process_iter(["pid", "cmdline"]):
                if (proc.info["cmdline"] or [""])[0] == title:
                    os.kill(proc.info["pid"], signal.SIGKILL)
                    killed.append(step)
                    return
        stop.wait(0.05)


def _same_report(a, b) -> None:
    ra, rb = load_report(a), load_report(b)
    da, db = (r.data.model_dump(exclude={"created", "timings"}) for r in (ra, rb))
    for d in (da, db):
        for c in d["checkpoints"]:
            c.pop("path")
    assert da == db
    assert ra.arrays.keys() == rb.arrays.keys()
    for k, v in ra.arrays.items():
        assert (v == rb.arrays[k]).all(), k


def test_a_worker_killed_mid_tuning_is_retried_to_the_undisturbed_result(
    cluster, base, one_thread_jobs, tmp_path
):
    """Two identical runs side by side; one's tuning loses its worker mid-run. Ray runs the job
    again, which resumes from its last checkpoint: the same weights, history and report."""
    steps = 30
    over = replace(MICRO, tune=MICRO.tune | TrainConfig.overrides(steps=steps, ckpt_every=10,
                                                                  log_every=10))  # fmt: skip
    quiet, hit = (Run(tmp_path / name, "shapes", 0, "tiny", tunings(["segmentation"]),
                      compare=BENCH, overrides=over, base_from=base)
                  for name in ("quiet", "hit"))  # fmt: skip
    victim = next(job for job in job_graph([hit]) if job.kind == "tune")
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_mid_run, args=(victim, steps, killed, stop))
    killer.start()
    try:
        run_pipeline([quiet, hit], "cpu", jobs=2, address=cluster.address)
    finally:
        stop.set()
        killer.join()
    assert killed and 10 <= killed[0] < steps  # it died mid-run

    got, want = (
        load_checkpoint(hit.tuned("segmentation")),
        load_checkpoint(quiet.tuned("segmentation")),
    )
    assert got.step == want.step == steps
    for name, w in want.state_dict.items():
        assert torch.equal(got.state_dict[name], w), name
    drop = lambda h: [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in h]  # noqa: E731
    assert drop(got.history) == drop(want.history)
    _same_report(hit.report, quiet.report)


def test_a_job_no_node_can_hold_stops_the_study_in_one_line(cluster, base, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "cores", lambda: 4)  # --jobs 1: four threads, on 1-CPU nodes
    run = Run(tmp_path, "shapes", 0, "tiny", tunings(["none"]), overrides=MICRO, base_from=base)
    with pytest.raises(ClusterError, match=r"^no node of the Ray cluster has 4 CPUs for a job"):
        run_pipeline([run], "cpu", jobs=1, address=cluster.address)
    assert not list(tmp_path.iterdir())  # stopped before any job, the check's file removed


def test_an_address_where_nothing_answers_stops_the_study_in_one_line(tmp_path):
    """Ray itself would wait for that head for ever."""
    run = Run(tmp_path, "shapes", 0, "tiny", tunings(["none"]))
    with pytest.raises(ClusterError, match=r"^could not join the Ray cluster at 127\.0\.0\.1:1: "
                       r"nothing answers at [^ ]+:1 \(Connection refused\)$"):  # fmt: skip
        run_pipeline([run], "cpu", jobs=1, address="127.0.0.1:1")


def test_an_address_is_host_and_port(tmp_path, capsys):
    from sgt_probe.cli import main

    code = main(["reproduce", "--out", str(tmp_path), "--address", "head-node"])
    assert code == 2
    err = capsys.readouterr().err
    assert "'head-node' is not HOST:PORT" in " ".join(err.split())
