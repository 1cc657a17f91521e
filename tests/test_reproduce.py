"""`sgt-probe reproduce`: the study grid, its layout, its figures and its resumption."""

from __future__ import annotations

import json

import pytest
from helpers_train import TINY_MODEL, TINY_TRAIN, TINY_TUNE, shared_base

from sgt_probe import pipeline
from sgt_probe.analyses.make_all import make_all
from sgt_probe.cli.reproduce import run_study
from sgt_probe.compare.config import CompareConfig
from sgt_probe.model.config import ModelConfig, PresetOverrides, TrainConfig
from sgt_probe.report.format import UMAP_PAIR as EMBED
from sgt_probe.report.format import load_report

PROXIES = ["none", "segmentation"]
SMALL_COMPARE = CompareConfig(n_scenes=12, n_probe_scenes=12, n_explorer=2, n_embed_scenes=4,
                              n_boot=50)  # fmt: skip


# the tiny preset shrunk further; passed as data, so it reaches the worker processes
MICRO = PresetOverrides(ModelConfig.overrides(**TINY_MODEL),
                        TrainConfig.overrides(**{**TINY_TRAIN, "steps": 40}),
                        TrainConfig.overrides(**{**TINY_TUNE, "steps": 20}))  # fmt: skip


def _no_ray(*args, **kwargs):
    raise AssertionError("a rerun of a finished study started Ray")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    # every seed tunes one base, as the study's seeds tune the shipped one (the run's tiny base
    # stands in for it; training a base per seed is test_jobs_side_by_side's `trained` run)
    base = shared_base(tmp_path_factory)
    out = tmp_path_factory.mktemp("study")
    args = (out, "tiny", 2, ["shapes"], PROXIES, "cpu", SMALL_COMPARE, MICRO)
    # on a local Ray, two jobs side by side as on 2 cores
    reports = run_study(*args, jobs=2, bases={"shapes": base})
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    with pytest.MonkeyPatch.context() as mp:  # every job finished: all reused, and no Ray
        mp.setattr(pipeline, "_ray", _no_ray)
        again = run_study(*args, jobs=1, bases={"shapes": base})
    restamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    return out, reports, again, stamps, restamps


def test_every_seed_gets_a_base_every_proxy_and_a_report(study):
    out, reports, *_ = study
    assert reports == [out / "shapes" / f"seed{s}" / "report" for s in range(2)]
    for seed, path in enumerate(reports):
        report = load_report(path)
        assert report.names == ["base", *PROXIES]
        assert {c.seed for c in report.data.checkpoints[1:]} == {seed}
        assert report.data.checkpoints[0].stage == "base"
    # one base copied into every seed's run; the seeds vary the tunings
    bases = [(out / "shapes" / f"seed{s}" / "base.pt").read_bytes() for s in range(2)]
    assert bases[0] == bases[1]
    tuned = [(out / "shapes" / f"seed{s}" / "segmentation.pt").read_bytes() for s in range(2)]
    assert tuned[0] != tuned[1]


def test_only_the_figures_umap_panels_are_embedded(study):
    report = load_report(study[1][0])
    assert report.embedded == list(EMBED)
    layers = report.data.embeddings.layers
    stored = {k for k in report.arrays if k.count("/") == 2 and k.startswith("embeddings/")}
    stored -= {k for k in stored if k.startswith("embeddings/meta/")}
    assert stored == {f"embeddings/{n}/{layer}" for n in EMBED for layer in layers}


def test_a_rerun_reuses_every_checkpoint_and_report(study):
    _, reports, again, stamps, restamps = study
    assert again == reports
    assert restamps == stamps


def test_the_figures_read_the_studys_reports(study, tmp_path):
    out = study[0]
    assert make_all(out, tmp_path, static=False) == 0  # 0: no analysis was skipped
    table = json.loads((tmp_path / "proxy_taxonomy.json").read_text())
    # two seeds of each proxy against the none control
    assert [(r["proxy"], r["seeds"]) for r in table["rows"]] == [("segmentation", "0 1")]
    assert (tmp_path / "umap_panels.html").exists()


def test_a_failing_job_stops_the_study_with_its_own_error(tmp_path, capsys):
    from sgt_probe.cli import main

    base = tmp_path / "shapes" / "seed0" / "base.pt"  # a damaged checkpoint fails its job
    base.parent.mkdir(parents=True)
    base.write_bytes(b"PK\x03\x04 half a checkpoint")
    # --train-bases: the base job reads the damaged file instead of reusing the shipped base
    code = main(["reproduce", "--out", str(tmp_path), "--worlds", "shapes", "--seeds", "1",
                 "--proxies", "none", "--arms", "main", "--jobs", "2", "--train-bases"])  # fmt: skip
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert f"error: {base}: not a readable checkpoint" in err
    # a long path is folded mid-word: compare without any whitespace
    assert "shapes/seed0·basetrainingfailed" in "".join(err.split())
    assert not (tmp_path / "figures").exists()  # no figures from a study that stopped


def test_jobs_side_by_side_only_where_the_graph_has_parallel_work(monkeypatch, tmp_path):
    from sgt_probe.pipeline import Run, default_jobs, tunings

    monkeypatch.setattr(pipeline, "cores", lambda: 2)
    trained = Run(tmp_path / "a", "shapes", 0, "tiny", tunings(["segmentation", "none"]))
    shipped = Run(tmp_path / "b", "shapes", 0, "tiny", tunings(["segmentation", "none"]),
                  base_from=tmp_path / "base.pt")  # fmt: skip
    assert default_jobs("cpu", [trained]) == 1  # base, then tunings: a line
    assert default_jobs("cpu", [shipped]) == 2  # the tunings start at once
    assert default_jobs("cpu", [trained, trained]) == 2
    monkeypatch.setattr(pipeline, "_gpus", lambda device: 1)
    assert default_jobs("cuda", [shipped, shipped]) == 1  # a job a GPU
    assert default_jobs("cuda", [shipped], gpus_per_job=0.25) == 4  # packed: four on one GPU
    assert default_jobs("cuda", [trained], gpus_per_job=0.1) == 10  # 1 / 0.1 is 9.999...


def test_a_compare_on_this_cpu_takes_every_slot_once_no_other_job_runs(monkeypatch, tmp_path):
    """On a local CPU, two slots of one thread: each compare asks Ray for both CPUs, runs with
    two threads and only when nothing else runs; the other run's jobs start while it waits.
    Ray is replaced by a stand-in that finishes jobs in the order they started."""
    import ray

    from sgt_probe.pipeline import Ran, Run, _schedule, job_graph, tunings

    runs = [Run(tmp_path / f"s{i}", "shapes", i, "tiny", tunings(PROXIES)) for i in range(2)]
    graph = job_graph(runs)
    started, running = [], []  # (kind, CPUs asked, threads, jobs running beside it)

    class Task:
        def options(self, name, num_cpus, **asks):
            def remote(job, device, threads):
                started.append((job.kind, num_cpus, threads, len(running)))
                running.append(object())
                return running[-1]

            return type("Named", (), {"remote": staticmethod(remote)})()

    def wait(refs, num_returns, timeout):
        running.remove(refs[0])
        return [refs[0]], refs[1:]

    monkeypatch.setattr(ray, "remote", lambda fn: Task())
    monkeypatch.setattr(ray, "wait", wait)
    monkeypatch.setattr(ray, "get", lambda ref: {"seconds": 0.0, "reused": False, "node": "n",
                                                 "host": "h", "started": 0.0})  # fmt: skip
    monkeypatch.setattr(pipeline, "_fits", lambda threads, gpu: {"n": 2})
    _schedule(graph, graph, "cpu", 1, 0.0, Ran(), "logs", cluster=False, wide=2)
    compares = [s for s in started if s[0] == "compare"]
    assert compares == [("compare", 2, 2, 0), ("compare", 2, 2, 0)]
    assert all(s[1:3] == (1, 1) for s in started if s[0] != "compare")
    assert max(s[3] for s in started) == 1  # two jobs side by side otherwise
    # the first run's compare waited while the second run's tunings took the free slot
    assert [s[0] for s in started] == ["base"] * 2 + ["tune"] * 4 + ["compare"] * 2


def test_a_cluster_holds_what_its_live_nodes_fit(monkeypatch):
    """Jobs side by side on a cluster: per live node, its CPUs by a job's threads, and its GPUs
    by a job's share of one."""
    import ray

    from sgt_probe.pipeline import _fits

    nodes = [{"NodeID": "a", "Alive": True, "Resources": {"CPU": 16.0, "GPU": 1.0}},
             {"NodeID": "b", "Alive": True, "Resources": {"CPU": 2.0, "GPU": 2.0}},
             {"NodeID": "c", "Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}},
             {"NodeID": "d", "Alive": True, "Resources": {"CPU": 8.0}}]  # fmt: skip
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    assert _fits(2, 0.25) == {"a": 4, "b": 1, "d": 0}
    assert _fits(4, 0.0) == {"a": 4, "b": 0, "d": 2}


def test_the_arms_lay_out_their_runs_and_wait_for_the_main_arm(tmp_path):
    """The secondary arms: one seed per world by default, each tuning named for its variant,
    the scaling arm compared with the main arm's own segmentation and none (whose jobs its
    compare waits for), the few-label arm at half the recipe's steps."""
    from sgt_probe.cli.reproduce import LABEL_BUDGETS, PROXY_BUDGETS, study_runs
    from sgt_probe.pipeline import job_graph

    runs = study_runs(tmp_path, "tiny", 2, ["shapes"], PROXIES, overrides=MICRO,
                      arms=("sensitivity", "scaling", "few-label"))  # fmt: skip
    dirs = [r.dir.relative_to(tmp_path).as_posix() for r in runs]
    assert dirs == ["shapes/seed0", "shapes/seed1", "weighted/shapes/seed0",
                    "scaling/shapes/seed0", "few-label/shapes/seed0"]  # fmt: skip
    main, _, weighted, scaling, few = runs
    assert (main.recipe, weighted.recipe) == ("paper", "weighted")
    assert [t.name for t in scaling.tunings] == [f"segmentation-{b}" for b in PROXY_BUDGETS]
    assert scaling.tunings[0].settings == TrainConfig.overrides(proxy_scenes=PROXY_BUDGETS[0])
    assert scaling.also == (main.tuned("segmentation"), main.tuned("none"))
    assert scaling.compare.suites == ("benchmarks",) and not scaling.compare.generation
    settings = [dict(t.settings.pairs) for t in few.tunings]
    assert {s["few_label_scenes"] for s in settings} == set(LABEL_BUDGETS)
    assert {s["steps"] for s in settings} == {20 // 2}
    graph = job_graph(runs)
    compare = next(j for j in graph if j.kind == "compare" and j.run is scaling)
    waits_for = {graph[d].output for d in compare.deps}
    assert {main.tuned("segmentation"), main.tuned("none")} <= waits_for
