"""The pipeline as a graph of jobs: per run directory, base -> its tunings -> compare.

`demo` is one run; `reproduce` is one run per (world, seed). With several runs, jobs whose
inputs are finished run side by side in worker processes, the cores split evenly among them. On
2 CPU cores, two single-threaded tunings get through ~1.4x the steps of one two-threaded tuning:
at these sizes the second intra-op thread spends much of each step waiting
(benchmarks/pipeline_bench.py times the whole graph both ways). A job's thread count depends
only on --jobs and the core count, never on what else happens to be running: the thread count
changes float rounding, so the same command on the same machine gives the same numbers.

Every job resumes or reuses what is finished, so a killed pipeline picks up where it stopped,
and a rerun of a finished one touches no file. Layout of a run directory: base.pt,
<tuning>.pt (one per tuning, named after its proxy unless it is a variant), report/.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sgt_probe.compare.config import CompareConfig
from sgt_probe.model.config import DEFAULT_RECIPE, Overrides, PresetOverrides, TrainConfig
from sgt_probe.report.format import REPORT_JSON, is_current

console = Console(stderr=True)


@dataclass(frozen=True)
class Tuning:
    """One tuning of a run's base: written to <name>.pt in the run dir."""

    name: str
    proxy: str
    # over the recipe's config: a data-scaling arm's proxy_scenes, a few-label arm's
    # few_label_scenes
    settings: Overrides = Overrides(TrainConfig)


def tunings(proxies) -> tuple[Tuning, ...]:
    """One plain tuning per proxy, named after it."""
    return tuple(Tuning(p, p) for p in proxies)


@dataclass(frozen=True)
class Run:
    dir: Path
    world: str
    seed: int
    preset: str
    tunings: tuple[Tuning, ...]
    recipe: str = DEFAULT_RECIPE
    compare: CompareConfig = CompareConfig()  # its seed and device: the run's and the machine's
    overrides: PresetOverrides = PresetOverrides()
    base_from: Path | None = None  # a finished base to copy in (a shipped one) instead of training
    # finished checkpoints of other runs compared after this run's own (a study arm compared
    # with the main arm's `none` control, which it need not train again)
    also: tuple[Path, ...] = ()

    @property
    def base(self) -> Path:
        return self.dir / "base.pt"

    def tuned(self, name: str) -> Path:
        return self.dir / f"{name}.pt"

    @property
    def checkpoints(self) -> list[Path]:
        return [self.base, *(self.tuned(t.name) for t in self.tunings), *self.also]

    @property
    def report(self) -> Path:
        return self.dir / "report"


@dataclass(frozen=True)
class Job:
    run: Run
    kind: str  # "base" | "tune" | "compare"
    tuning: Tuning | None = None
    deps: tuple[int, ...] = ()  # indices of the jobs this one reads

    @property
    def output(self) -> Path:
        if self.kind == "compare":
            return self.run.report / REPORT_JSON
        return self.run.base if self.kind == "base" else self.run.tuned(self.tuning.name)

    @property
    def label(self) -> str:
        base = "shipped base" if self.run.base_from is not None else "base training"
        what = {"base": base, "compare": "compare"}.get(self.kind)
        return f"{self.run.dir} · {what or f'tune {self.tuning.name}'}"


def job_graph(runs: list[Run]) -> list[Job]:
    """Each run's jobs in order; the list order is also the scheduling priority, so earlier
    runs finish (and their reports appear) before later runs start their tunings. A run's
    compare also waits for the jobs that write its `also` checkpoints."""
    jobs: list[Job] = []
    for run in runs:
        base = len(jobs)
        jobs.append(Job(run, "base"))
        jobs += [Job(run, "tune", t, (base,)) for t in run.tunings]
        jobs.append(Job(run, "compare", deps=tuple(range(base, len(jobs)))))
    writes = {job.output: i for i, job in enumerate(jobs) if job.kind != "compare"}
    for i, job in enumerate(jobs):
        if job.kind == "compare" and job.run.also:
            missing = [p for p in job.run.also if p not in writes and not p.exists()]
            if missing:
                raise ValueError(f"{job.run.dir}: compares {missing[0]}, which no run writes")
            extra = tuple(writes[p] for p in job.run.also if p in writes)
            jobs[i] = replace(job, deps=job.deps + extra)
    return jobs


def execute(job: Job, device: str, threads: int | None = None, progress: bool = True) -> float:
    """Run one job (reusing whatever is finished); return its wall time in seconds."""
    import torch

    from sgt_probe.data.spec import DataSpec
    from sgt_probe.sources.tuning import tune
    from sgt_probe.tuning.runner import train_base

    if threads:
        torch.set_num_threads(threads)
    t0, run, over = time.perf_counter(), job.run, job.run.overrides
    seeded = TrainConfig.overrides(seed=run.seed)
    if job.kind == "base" and run.base_from is not None:
        _copy_once(run.base_from, run.base)
    elif job.kind == "base":
        train_base(DataSpec(world=run.world, seed=run.seed), run.base, run.preset, over.model,
                   seeded | over.train, resume=True, device=device, progress=progress)  # fmt: skip
    elif job.kind == "tune":
        settings = seeded | over.tune | job.tuning.settings
        tune(run.base, job.tuning.proxy, job.output, settings, run.recipe, resume=True,
             device=device, progress=progress)  # fmt: skip
    else:
        from sgt_probe.compare.run import run_compare
        from sgt_probe.viz.html import write_html

        if not is_current(run.report, run.checkpoints):
            cfg = replace(run.compare, seed=run.seed, device=device)
            run_compare(run.checkpoints, run.report, cfg, progress=progress)
            write_html(run.report)
    return time.perf_counter() - t0


def _copy_once(src: Path, dst: Path) -> None:
    """Copy `src` to `dst` unless it is there: whole or not at all (temp file, rename)."""
    if dst.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)


def default_jobs(device: str, runs: list[Run]) -> int:
    """One job at a time on a GPU (a single job keeps it busy) or for a single run that trains
    its base (its graph is then mostly a line: base, then tunings, then compare, and a lone job
    wants every core); else one per CPU core, at most 4. A single run on a shipped base starts
    with its tunings, which are independent, and at these model sizes a second thread mostly
    waits: a shrunk study ran 1.34x faster at two one-thread jobs than at one two-thread job
    (benchmarks/pipeline_bench.py)."""
    if device.startswith("cuda"):
        return 1
    if len(runs) < 2 and not all(r.base_from is not None for r in runs):
        return 1
    return min(4, cores())


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


def _worker_init() -> None:
    # The parent owns Ctrl-C (it terminates the pool) and the only progress display.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["TQDM_DISABLE"] = "1"


def run_pipeline(runs: list[Run], device: str, jobs: int | None = None) -> None:
    """Run every job of `runs`, up to `jobs` at a time (default: `default_jobs`), each with
    cores // jobs threads.

    A failing job stops the pipeline with its own error; what other jobs finished is kept.
    """
    graph = job_graph(runs)
    jobs = jobs or default_jobs(device, runs)
    try:
        if jobs <= 1:  # in this process, with each job's own progress bars
            for job in graph:
                before = _mtime(job.output)
                _finished(job, before, execute(job, device))
        else:
            _in_workers(graph, device, jobs)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished jobs are kept; the same command resumes")
        raise


def _finished(job: Job, before: int | None, seconds: float) -> None:
    reused = before is not None and _mtime(job.output) == before
    console.print(f"  [green]✓[/] {job.label}  [dim]{'reused' if reused else f'{seconds:.0f}s'}")


def _in_workers(graph: list[Job], device: str, jobs: int) -> None:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[running]}"))  # fmt: skip
    threads, done, todo = max(1, cores() // jobs), set(), list(range(len(graph)))
    running: dict[int, tuple] = {}
    with (
        mp.get_context("spawn").Pool(jobs, initializer=_worker_init) as pool,
        Progress(*columns, console=console) as bar,
    ):
        task = bar.add_task("pipeline", total=len(graph), running="")
        while todo or running:
            ready = [i for i in todo if all(d in done for d in graph[i].deps)]
            for i in ready[: jobs - len(running)]:
                todo.remove(i)
                args = (graph[i], device, threads, False)
                running[i] = (pool.apply_async(execute, args), _mtime(graph[i].output))
            names = ", ".join(graph[i].label for i in running)
            bar.update(task, running=f"[dim]{names}")
            time.sleep(0.2)
            for i, (result, before) in list(running.items()):
                if result.ready():
                    try:
                        seconds = result.get()  # re-raises the job's own error
                    except BaseException:
                        console.print(f"  [red]✗[/] {graph[i].label} failed")
                        raise
                    del running[i]
                    done.add(i)
                    _finished(graph[i], before, seconds)
                    bar.advance(task)
