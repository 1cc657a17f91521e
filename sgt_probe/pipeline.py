"""The pipeline as a graph of jobs: per run directory, base -> its tunings -> compare.

`demo` is one run; `reproduce` is one run per (world, seed) and arm. Every job is a Ray task
(docs/ray.md): by default on a Ray started for the run on this machine and stopped after it;
with `address`, on the nodes of an existing Ray cluster. Jobs whose inputs are finished run
side by side, each asking Ray for its resources: `cores // jobs` CPUs, and on a GPU
`gpus_per_job` of one (0.25 packs four small tunings on one GPU). On 2 CPU cores, two
single-threaded tunings get through ~1.4x the steps of one two-threaded tuning: at these sizes
the second intra-op thread spends much of each step waiting (benchmarks/pipeline_bench.py). A
job's thread count is its CPU count, which depends only on --jobs and the core count, never on
what else happens to be running: the thread count changes float rounding, so the same command
on the same machine gives the same numbers.

Every job resumes or reuses what is finished, so a killed pipeline picks up where it stopped,
and a rerun of a finished one touches no file (nor starts Ray: its jobs check their outputs in
this process). A job whose worker process or node dies is run
again (at most RETRIES times) and resumes from its last checkpoint: tunings are a pure
function of their seed, so the result is the undisturbed run's. Jobs read and write the run
directories in place, so on a cluster every node must see them at the same path (a shared file
system; checked before the first job). Layout of a run directory: base.pt, <tuning>.pt (one
per tuning, named after its proxy unless it is a variant), report/.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import sgt_probe
from sgt_probe.compare.config import CompareConfig
from sgt_probe.model.config import DEFAULT_RECIPE, Overrides, PresetOverrides, TrainConfig
from sgt_probe.report.format import REPORT_JSON, is_current
from sgt_probe.tuning import log_path

console = Console(stderr=True)

# A job whose worker process or node dies runs again at most this many times, each try resuming
# from the job's last checkpoint; a job that raises is never retried (its error is the study's).
RETRIES = 2
# The local Ray's shared-memory object store: jobs pass it only their few-field summaries.
OBJECT_STORE_BYTES = 100 * 2**20
# Ray's own messages (a local instance started, its token, usage statistics, worker output) stay
# in its session logs; a job's error reaches the driver as the job's own exception.
QUIET = {"log_to_driver": False, "logging_level": logging.ERROR}
# Settings the processes of a local Ray start with, unless the user's environment sets them.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": "0"}
# Starts of a local Ray before giving up: its raylet exits when its Python agents take over 15 s
# to start (a fixed limit, ray-project/ray#65983), which happens on a busy machine.
START_TRIES = 3
# How long joining a cluster waits for its head to take a connection.
JOIN_TIMEOUT_S = 20
# How long a node of a cluster may take to start a worker that answers the shared-files check.
PROBE_TIMEOUT_S = 300


class ClusterError(RuntimeError):
    """Ray itself stopped the study, not a job's own error: Ray could not start or join the
    cluster, no node fits a job, a node lacks the run directories or sgt-probe, or a job lost
    its worker more than RETRIES times. One line (the CLI shows it as such, exit status 2)."""


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


def default_jobs(device: str, runs: list[Run], gpus_per_job: float | None = None) -> int:
    """On a GPU, as many jobs as this machine's GPUs hold at `gpus_per_job` each (default one
    per GPU; 0.25: four small tunings per GPU). On a CPU, one job for a single run that trains
    its base (its graph is then mostly a line: base, then tunings, then compare, and a lone job
    wants every core); else one per CPU core, at most 4. A single run on a shipped base starts
    with its tunings, which are independent, and at these model sizes a second thread mostly
    waits: a shrunk study ran 1.34x faster at two one-thread jobs than at one two-thread job
    (benchmarks/pipeline_bench.py)."""
    if device.startswith("cuda"):
        return max(1, int(max(1, _gpus(device)) / (gpus_per_job or 1) + 1e-9))
    if len(runs) < 2 and not all(r.base_from is not None for r in runs):
        return 1
    return min(4, cores())


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _gpus(device: str) -> int:
    """The GPUs `device` may use on this machine: the one named (cuda:N), or every one."""
    if not device.startswith("cuda"):
        return 0
    if ":" in device:
        return 1
    import torch

    return torch.cuda.device_count()


def _mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


@dataclass(frozen=True)
class Done:
    """A finished job: where it ran and how long it took."""

    job: Job
    seconds: float  # the job's own wall time in its worker (0 for a shipped base's copy)
    reused: bool  # its output was already finished
    node: str  # the Ray node it ran on ("" for the driver)
    host: str  # that node's address
    queued: float  # seconds from submission to the job's start in its worker (Ray's dispatch)


@dataclass
class Ran:
    """What `run_pipeline` did: every job, and the time Ray itself took."""

    done: list[Done] = field(default_factory=list)
    startup: float = 0.0  # seconds to start Ray on this machine or join the cluster
    shutdown: float = 0.0  # seconds to stop it (or leave the cluster)


def run_pipeline(runs: list[Run], device: str, jobs: int | None = None,
                 address: str | None = None, gpus_per_job: float | None = None) -> Ran:  # fmt: skip
    """Run every job of `runs` as a Ray task, each asking for cores // jobs CPUs (its thread
    count; `jobs` defaults to `default_jobs`) and on a GPU for `gpus_per_job` of one (default
    1). Without `address` a Ray is started on this machine with jobs x those CPUs, so at most
    `jobs` run side by side, and stopped afterwards; with `address` (HOST:PORT) the run joins
    that cluster and runs as many jobs side by side as its nodes fit. Earlier jobs of the graph
    start first, except that on this machine's CPU a compare takes all of them (`_width`).

    A failing job stops the pipeline with its own error (other running jobs are cancelled);
    what finished is kept, and so are interrupted jobs' checkpoints: the same call resumes.
    """
    graph = job_graph(runs)
    jobs = jobs or default_jobs(device, runs, gpus_per_job)
    threads = max(1, cores() // jobs)
    gpu = (gpus_per_job or 1.0) if device.startswith("cuda") else 0.0
    ran = Ran()
    if all(_reported(run) for run in runs):
        _check_here(graph, device, ran)
        return ran
    try:
        with _ray(address, jobs * threads, device, ran) as logs:
            shipped = [_absolute(job) for job in graph]  # a worker may start in another folder
            if address is not None:
                _check_nodes(shipped, threads, gpu)
            _schedule(graph, shipped, device, threads, gpu, ran, logs, cluster=address is not None,
                      wide=jobs if address is None and not gpu else 1)  # fmt: skip
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished jobs are kept; the same command resumes")
        raise
    return ran


def _reported(run: Run) -> bool:
    """Whether the run's report is newer than every checkpoint it compares: its jobs finished."""
    return all(p.exists() for p in run.checkpoints) and is_current(run.report, run.checkpoints)


def _check_here(graph: list[Job], device: str, ran: Ran) -> None:
    """A finished pipeline's jobs, each reusing what it finds, in this process: each only
    checks its output against what it is asked for (a tuning asked for more steps than it has
    extends, here), and starting Ray for that would take longer than all the checks."""
    for job in graph:
        before = _mtime(job.output)
        seconds = execute(job, device, progress=False)
        ran.done.append(Done(job, seconds, _mtime(job.output) == before, "", "", 0.0))
        _finished(ran.done[-1], cluster=False)


def _absolute(job: Job) -> Job:
    """The job with absolute paths: a Ray worker's working folder is not the driver's."""
    run = job.run
    run = replace(run, dir=run.dir.absolute(), also=tuple(p.absolute() for p in run.also),
                  base_from=run.base_from and run.base_from.absolute())  # fmt: skip
    return replace(job, run=run)


@contextlib.contextmanager
def _ray(address: str | None, cpus: int, device: str, ran: Ran):
    """Ray for the run: started on this machine in a short temporary folder of its own
    (removed afterwards, or kept for its logs when Ray lost a job), or the cluster at `address`
    joined. Yields where Ray's logs are. Ray's SIGTERM handler is not kept: the caller's
    signal handling stays what it was."""
    import ray

    main = threading.current_thread() is threading.main_thread()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    tmp, t0 = None, time.perf_counter()
    if address is None:
        # short: Ray's socket paths in it must fit in 107 bytes (macOS's TMPDIR is long)
        tmp = tempfile.mkdtemp(prefix="sgt-ray-", dir="/tmp" if os.path.isdir("/tmp") else None)
    try:
        for attempt in range(1, START_TRIES + 1):
            try:
                with _ray_environment(device), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if address is None:
                        ray.init(address="local", num_cpus=cpus, num_gpus=_gpus(device),
                                 include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
                                 _temp_dir=tmp, **QUIET)  # fmt: skip
                    else:
                        _answers(address)
                        ray.init(address=address, **QUIET)
                break
            except Exception as e:
                ray.shutdown()
                if address is None and attempt < START_TRIES and "during startup" in str(e):
                    continue  # its agents were slow to start on a busy machine: try again
                where = f"join the Ray cluster at {address}" if address else "start Ray here"
                logs = f" (Ray's logs: {_logs(tmp)})" if tmp else ""
                raise ClusterError(f"could not {where}: {_first_line(e)}{logs}") from None
    except BaseException as e:  # Ctrl-C while Ray starts, too: stop what started
        ray.shutdown()
        if tmp and not isinstance(e, ClusterError):
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    ran.startup = time.perf_counter() - t0
    keep = False
    try:
        yield (
            _logs(tmp) if tmp else "Ray's session logs on each node (/tmp/ray/session_latest/logs)"
        )
    except ClusterError:
        keep = tmp is not None
        raise
    finally:
        t1 = time.perf_counter()
        ray.shutdown()
        ran.shutdown = time.perf_counter() - t1
        if tmp and not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _answers(address: str) -> None:
    """Raise ConnectionError unless the head at `address` takes a connection where Ray will
    dial it: Ray waits for one that does not for ever, its retries on the terminal. Ray dials a
    loopback address (127.0.0.1, localhost) at this machine's network address, where a head
    started with `--node-ip-address 127.0.0.1` does not listen."""
    from ray._private.services import canonicalize_bootstrap_address

    dial = canonicalize_bootstrap_address(address)  # what ray.init dials
    host, _, port = dial.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=JOIN_TIMEOUT_S).close()
    except OSError as e:
        raise ConnectionError(f"nothing answers at {dial} ({e.strerror or e})") from None


def _logs(tmp: str) -> str:
    return str(Path(tmp) / "session_latest" / "logs")


@contextlib.contextmanager
def _ray_environment(device: str):
    """What Ray's processes inherit while it starts: no usage statistics sent home (nothing
    leaves the machine); workers at the niceness of any other program, not Ray's default 15,
    which lets whatever else runs here starve the study's jobs (beside two busy processes on 2
    cores a tiny tuning ran at 300 tokens/s instead of 3,600); and for cuda:N only that GPU
    visible."""
    env = {name: os.environ.get(name, default) for name, default in RAY_ENV.items()}
    if device.startswith("cuda:"):
        n = int(device.split(":")[1])
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        env["CUDA_VISIBLE_DEVICES"] = visible.split(",")[n] if visible else str(n)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


def _fits(threads: int, gpu: float) -> dict[str, int]:
    """How many jobs each live node of the cluster holds at once, by node id."""
    import ray

    fits = {}
    for node in ray.nodes():
        if not node["Alive"]:
            continue
        have = node["Resources"]
        n = int(have.get("CPU", 0) / threads + 1e-9)
        if gpu:
            n = min(n, int(have.get("GPU", 0) / gpu + 1e-9))
        fits[node["NodeID"]] = n
    return fits


def _asks(threads: int, gpu: float) -> str:
    cpus = f"{threads} CPU{'s' * (threads > 1)}"
    return f"{cpus} and {gpu:g} GPU" if gpu else cpus


def _check_nodes(shipped: list[Job], threads: int, gpu: float) -> None:
    """Before the first job on a cluster: every node that can run one imports this sgt-probe
    and sees the run directories at their paths here (a file the driver writes where they all
    lie). A node that does not would fail its jobs one by one, or write their checkpoints
    where no other node reads them."""
    import ray
    from ray.exceptions import GetTimeoutError, RayError, RayTaskError
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
    able = [node for node, n in _fits(threads, gpu).items() if n > 0]
    if not able:
        raise ClusterError(f"no node of the Ray cluster has {_asks(threads, gpu)} for a job "
                           "(--jobs sets each job's share of this machine's cores)")  # fmt: skip
    root = Path(os.path.commonpath([str(job.run.dir) for job in shipped]))
    root.mkdir(parents=True, exist_ok=True)
    marker = root / f".sgt-probe-shared-{uuid.uuid4().hex[:12]}"
    marker.write_text("written by the driver; every node must read it\n")
    probe = ray.remote(_node_sees)

    def on(node: str):  # the probe, pinned to `node`
        pinned = NodeAffinitySchedulingStrategy(node, soft=False)
        return probe.options(num_cpus=0, max_retries=0, scheduling_strategy=pinned)

    try:
        refs = {node: on(node).remote(str(marker)) for node in able}
        for node, ref in refs.items():
            host = nodes.get(node, node)
            try:
                seen, version = ray.get(ref, timeout=PROBE_TIMEOUT_S)
            except RayTaskError as e:
                raise ClusterError(
                    f"Ray node {host} cannot run sgt-probe's jobs ({_first_line(e.cause)}): "
                    "install sgt-probe in the Python environment `ray start` runs on every node"
                ) from None
            except (GetTimeoutError, RayError) as e:
                raise ClusterError(f"Ray node {host} did not answer: {_first_line(e)}") from None
            if not seen:
                raise ClusterError(
                    f"Ray node {host} does not see {root}: on a cluster the run directories "
                    "must lie on a file system every node mounts at the same path (docs/ray.md)"
                )
            if version != sgt_probe.__version__:
                raise ClusterError(f"Ray node {host} runs sgt-probe {version}, this machine "
                                   f"{sgt_probe.__version__}: install the same on every node")  # fmt: skip
    finally:
        marker.unlink(missing_ok=True)


def _node_sees(marker: str) -> tuple[bool, str]:
    import sgt_probe

    return Path(marker).is_file(), sgt_probe.__version__


def _run_job(job: Job, device: str, threads: int) -> dict:
    """One job in a Ray worker. Progress bars are off (the driver draws the only display); on
    a GPU, the job's device is the GPU Ray gave it (Ray sets CUDA_VISIBLE_DEVICES to it)."""
    import ray

    started = time.time()
    os.environ["TQDM_DISABLE"] = "1"
    before = _mtime(job.output)
    seconds = execute(job, "cuda" if device.startswith("cuda") else device, threads, False)
    return {"seconds": seconds, "reused": before is not None and _mtime(job.output) == before,
            "node": ray.get_runtime_context().get_node_id(),
            "host": ray.util.get_node_ip_address(), "started": started}  # fmt: skip


def task_name(job: Job) -> str:
    """The Ray task's name, which its worker process takes as its title (`ray::<name>`)."""
    what = job.tuning.name if job.kind == "tune" else job.kind
    return f"sgt-probe {what} {job.run.dir}"


def _width(job: Job, wide: int) -> int:
    """The job slots (of `threads` CPUs each) a job takes. A compare on this machine's CPU takes
    all `wide` of them: a lone compare (the demo's, a study's last) would otherwise leave the
    other cores idle (the demo's compare of three small checkpoints took 264 s on one of two
    cores), and its report no longer depends on --jobs. It starts when no other job runs; the
    tunings behind it go first meanwhile, so no core waits for it."""
    return wide if job.kind == "compare" else 1


def _schedule(graph: list[Job], shipped: list[Job], device: str, threads: int, gpu: float,
              ran: Ran, logs: str, cluster: bool, wide: int = 1) -> None:  # fmt: skip
    import ray
    from ray.exceptions import RayError, RayTaskError

    task = ray.remote(_run_job)
    asks = {"num_gpus": gpu, "max_retries": RETRIES, "retry_exceptions": False}
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[running]}"))  # fmt: skip
    done, todo = set(), list(range(len(graph)))
    running: dict[Any, tuple[int, float]] = {}  # ObjectRef -> (job, submitted at)
    taken: dict[int, int] = {}  # job -> the slots it was given (_width)
    room = _Room(threads, gpu)
    try:
        with Progress(*columns, console=console) as bar:
            shown = bar.add_task("pipeline", total=len(graph), running="")
            while todo or running:
                ready = [i for i in todo if all(d in done for d in graph[i].deps)]
                for i in [i for i in ready if graph[i].kind == "base" and graph[i].run.base_from]:
                    # a shipped base is a file copy: done here, where that file surely is
                    todo.remove(i)
                    before = _mtime(shipped[i].output)
                    _copy_once(shipped[i].run.base_from, shipped[i].output)
                    ran.done.append(Done(graph[i], 0.0, before is not None, "", "", 0.0))
                    _finished(ran.done[-1], cluster)
                    done.add(i)
                    bar.advance(shown)
                ready = [i for i in todo if all(d in done for d in graph[i].deps)]
                slots = room()
                free = slots - sum(taken[i] for i, _ in running.values())
                if ready and not running and free <= 0:
                    raise ClusterError(f"no node of the Ray cluster has {_asks(threads, gpu)} "
                                       "free for a job")  # fmt: skip
                for i in ready:
                    width = min(_width(graph[i], wide), slots)
                    if width > free:
                        continue
                    free -= width
                    taken[i] = width
                    todo.remove(i)
                    named = task.options(name=task_name(graph[i]), num_cpus=width * threads,
                                         **asks)  # fmt: skip
                    ref = named.remote(shipped[i], device, width * threads)
                    running[ref] = (i, time.time())
                names = ", ".join(_running(graph[i], shipped[i]) for i, _ in running.values())
                bar.update(shown, running=f"[dim]{names}")
                if not running:
                    continue
                finished, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
                for ref in finished:
                    i, submitted = running.pop(ref)
                    try:
                        out = ray.get(ref)
                    except RayTaskError as e:
                        console.print(f"  [red]✗[/] {graph[i].label} failed")
                        raise _own_error(e) from None
                    except RayError as e:
                        console.print(f"  [red]✗[/] {graph[i].label} lost")
                        raise ClusterError(
                            f"{graph[i].label}: Ray lost the job {RETRIES + 1} times "
                            f"({_first_line(e)}); Ray's logs: {logs}"
                        ) from None
                    done.add(i)
                    ran.done.append(Done(graph[i], out["seconds"], out["reused"], out["node"],
                                         out["host"], max(0.0, out["started"] - submitted)))  # fmt: skip
                    _finished(ran.done[-1], cluster)
                    bar.advance(shown)
    finally:
        for ref in running:  # a stopped study's other jobs: their checkpoints are kept
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)


class _Room:
    """How many jobs the cluster holds at once, asked of Ray at most every few seconds (nodes
    may join or leave while the study runs)."""

    def __init__(self, threads: int, gpu: float, every: float = 5.0):
        self.threads, self.gpu, self.every = threads, gpu, every
        self.at, self.n = -every, 0

    def __call__(self) -> int:
        if time.monotonic() - self.at >= self.every:
            self.at, self.n = time.monotonic(), sum(_fits(self.threads, self.gpu).values())
        return self.n


def _own_error(e) -> BaseException:
    """The job's own exception out of Ray's wrapper: its message stays what it was (one line for
    the CLI); Ray's account of it (the worker's pid and node, its traceback) rides along as a
    note. Ray raises the wrapper as a subclass of the job's exception whose only field is
    `cause`: the rest lives in its text."""
    from ray.exceptions import RayError

    said = str(e)
    cause = e.cause
    if cause is None or isinstance(cause, RayError):  # the job's own could not be pickled
        lines = [line for line in said.splitlines() if line.strip()]
        cause = RuntimeError(lines[-1] if lines else type(e).__name__)
    cause.add_note(f"raised in the job's Ray worker: {said}")
    return cause


def _running(job: Job, shipped: Job) -> str:
    """A running job's label with its last logged training step, where its log is readable."""
    if job.kind == "compare":
        return job.label
    try:
        last = log_path(shipped.output).read_text().rstrip().rsplit("\n", 1)[-1]
        return f"{job.label} (step {json.loads(last)['step']})"
    except (OSError, ValueError, KeyError, IndexError):
        return job.label


def _finished(done: Done, cluster: bool) -> None:
    where = f" on {done.host}" if cluster and done.host else ""
    said = "reused" if done.reused else f"{done.seconds:.0f}s"
    console.print(f"  [green]✓[/] {done.job.label}  [dim]{said}{where}")
