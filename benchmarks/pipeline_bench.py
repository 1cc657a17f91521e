"""Wall time of the pipeline: Ray's own overhead against the process pool it replaced, and the
study at several --jobs.

    python benchmarks/pipeline_bench.py --overhead        # a tiny study: pool vs Ray, same session
    python benchmarks/pipeline_bench.py                   # small preset, 2 seeds, jobs 1 vs 2
    python benchmarks/pipeline_bench.py --jobs 1 4 --seeds 3

--overhead runs one tiny run shaped like the demo's (a base copied in, its tunings side by
side, a compare) from scratch and then again with every job finished (all reused: what is left
is the engine), first on the multiprocessing pool that `sgt_probe.pipeline` used before Ray (kept
here, as it was, as the baseline) and then on Ray, alternating for --repeat rounds. It reports
Ray's start-up, the time from a job's submission to its start in a worker (dispatch: a worker
process's start and imports included where none was idle) and Ray's shutdown.

Without --overhead, the same pipeline (per seed a base, three tunings and a compare) runs from
scratch on Ray once per --jobs value, each in a fresh directory, in the order given; the first
is the baseline every ratio is taken against. Steps and compare sizes are cut so a round takes
minutes, not the study's hour; the shape of the job graph is the study's.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from sgt_probe.cli.demo import DEMO_PROXIES
from sgt_probe.cli.reproduce import study_runs
from sgt_probe.compare.config import CompareConfig
from sgt_probe.model.config import ModelConfig, PresetOverrides, TrainConfig
from sgt_probe.pipeline import Run, _mtime, cores, execute, job_graph, run_pipeline, tunings

PROXIES = ["none", "segmentation", "depth"]
SHRUNK = PresetOverrides(train=TrainConfig.overrides(steps=80, ckpt_every=1000),
                         tune=TrainConfig.overrides(steps=40, ckpt_every=1000))  # fmt: skip
COMPARE = CompareConfig(n_scenes=16, n_probe_scenes=32, n_explorer=2, n_embed_scenes=4,
                        n_boot=200)  # fmt: skip

# --overhead: the tests' tiny model (tests/helpers_train.py), a few steps a job, the demo's
# tunings, benchmarks and probes on a few scenes
TINY = PresetOverrides(
    ModelConfig.overrides(d_model=32, n_layers=2, n_heads=2, d_ff=64, n_codes=64),
    TrainConfig.overrides(n_scenes=200, batch_size=8, steps=40, warmup=10),
    TrainConfig.overrides(n_scenes=200, batch_size=8, steps=20),
)
TINY_COMPARE = CompareConfig(n_scenes=12, n_probe_scenes=12, n_boot=50,
                             suites=("benchmarks", "probes"), generation=False)  # fmt: skip


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["TQDM_DISABLE"] = "1"


def pool_pipeline(runs: list[Run], device: str, jobs: int) -> None:
    """The engine Ray replaced (sgt_probe/pipeline.py before it), without its progress display:
    up to `jobs` jobs side by side in a spawned multiprocessing pool, each with cores // jobs
    threads; with jobs 1, in this process."""
    graph = job_graph(runs)
    if jobs <= 1:
        for job in graph:
            execute(job, device, progress=False)
        return
    threads, done, todo = max(1, cores() // jobs), set(), list(range(len(graph)))
    running = {}
    with mp.get_context("spawn").Pool(jobs, initializer=_worker_init) as pool:
        while todo or running:
            ready = [i for i in todo if all(d in done for d in graph[i].deps)]
            for i in ready[: jobs - len(running)]:
                todo.remove(i)
                args = (graph[i], device, threads, False)
                running[i] = (pool.apply_async(execute, args), _mtime(graph[i].output))
            time.sleep(0.2)
            for i, (result, _) in list(running.items()):
                if result.ready():
                    result.get()
                    del running[i]
                    done.add(i)


def overhead(repeat: int, jobs: int) -> None:
    from sgt_probe.data.spec import DataSpec
    from sgt_probe.tuning.runner import train_base

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.pt"
        train_base(DataSpec(world="shapes", seed=0), base, "tiny", TINY.model,
                   TINY.train, device="cpu", progress=False)  # fmt: skip
        rows: dict[str, list[dict]] = {"pool": [], "ray": []}
        for r in range(repeat):
            for engine in ("pool", "ray"):
                out = Path(tmp) / f"{engine}{r}"
                run = Run(out, "shapes", 0, "tiny", tunings(DEMO_PROXIES), compare=TINY_COMPARE,
                          overrides=TINY, base_from=base)  # fmt: skip
                row = {}
                for phase in ("fresh", "rerun"):
                    t0 = time.perf_counter()
                    if engine == "pool":
                        pool_pipeline([run], "cpu", jobs)
                    else:
                        ran = run_pipeline([run], "cpu", jobs)
                        row[f"{phase} start-up"] = ran.startup
                        row[f"{phase} shutdown"] = ran.shutdown
                        queued = [d.queued for d in ran.done if d.node]
                        row[f"{phase} dispatch mean"] = statistics.mean(queued)
                        row[f"{phase} dispatch max"] = max(queued)
                    row[phase] = time.perf_counter() - t0
                rows[engine].append(row)
                print(f"round {r + 1} {engine}: " + ", ".join(f"{k} {v:.1f} s"
                                                           for k, v in row.items()), flush=True)  # fmt: skip
    print(f"\ntiny run (shipped base copied, {len(DEMO_PROXIES)} tunings, compare), --jobs {jobs}, "
          f"{cores()} cores; median of {repeat} round(s), seconds")  # fmt: skip
    keys = list(rows["ray"][0])
    print(f"  {'':22} {'pool':>7} {'ray':>7}")
    for k in keys:
        values = {e: [row[k] for row in rows[e] if k in row] for e in rows}
        cells = [f"{statistics.median(v):7.1f}" if v else f"{'-':>7}" for v in values.values()]
        print(f"  {k:22} {' '.join(cells)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--overhead", action="store_true", help="pool vs Ray on a tiny run")
    ap.add_argument("--repeat", type=int, default=2, help="--overhead rounds (alternating)")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--jobs", type=int, nargs="+", default=None)
    args = ap.parse_args()
    if args.overhead:
        overhead(args.repeat, (args.jobs or [2])[0])
        return
    jobs_list = args.jobs or [1, 2]
    times = {}
    for jobs in jobs_list:
        with tempfile.TemporaryDirectory() as tmp:
            runs = study_runs(Path(tmp), args.preset, args.seeds, ["shapes"], PROXIES,
                              COMPARE, SHRUNK)  # fmt: skip
            t0 = time.perf_counter()
            run_pipeline(runs, "cpu", jobs)
            times[jobs] = time.perf_counter() - t0
    base = jobs_list[0]
    print(f"\n{args.preset}, {args.seeds} seeds x (base, {len(PROXIES)} tunings, compare)")
    for jobs, t in times.items():
        print(f"  jobs={jobs}: {t:6.1f} s   x{times[base] / t:.2f} vs jobs={base}")


if __name__ == "__main__":
    main()
