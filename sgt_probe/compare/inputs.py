"""What the compare suites read: the checkpoints, the held-out items, captured residuals.

Each part is built the first time a suite asks for it and then shared, so a run of a few suites
pays only for what they use: `--suites benchmarks` never captures a residual.

Every scene comes from the reference world's splits (`World.split`): the benchmarks, attention
and knockout read its "eval" scenes (the benchmarks the first `n_scenes`, proxy quality, attention
and knockout fewer of those first ones), the probes, CKA and UMAP its "probe" scenes, and no
model trained on either (training reads "train").

Each checkpoint is a model source (`sgt_probe.sources`): one of our checkpoints or a Hugging
Face model directory. The compared sources tokenize scenes alike (`run.check_comparable`), so
the items are made once, by the reference, and fed to every one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from rich.console import Console

from sgt_probe.capture.activations import capture_residuals
from sgt_probe.capture.bridge import HookedRunner
from sgt_probe.capture.labels import patch_labels
from sgt_probe.data.proxies import PROXIES
from sgt_probe.evals.benchmarks import eval_data
from sgt_probe.model.sequences import Item
from sgt_probe.sources.base import ModelSource
from sgt_probe.tuning.taskdata import TaskData

console = Console(stderr=True)


class Stopwatch:
    """Wall seconds per stage; a stage started inside another is taken out of the outer one,
    so every second is counted once (a suite that triggers the capture is not billed for it)."""

    def __init__(self, progress: bool = True):
        self.seconds: dict[str, float] = {}
        self.progress = progress
        self._inner: list[float] = []  # per open stage: seconds spent in stages inside it

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        self._inner.append(0.0)
        try:
            yield
        finally:
            inner = self._inner.pop()
        # reached only when the stage finished: a failed one reports its error, not a time
        total = time.perf_counter() - t0
        if self._inner:
            self._inner[-1] += total
        self.seconds[stage] = self.seconds.get(stage, 0.0) + total - inner
        if self.progress:
            console.print(f"  [dim]{stage}: {total - inner:.1f}s[/]")


@dataclass(frozen=True)
class EvalItems:
    """Held-out eval scenes and their questions as the attention and knockout suites use them:
    one entry per (scene, question), in scene order; `data` has segmentation-proxy items."""

    data: TaskData
    scene_of: list[int]  # each question's index into data.scenes
    qa: list[Item]  # the understanding items
    questions: list  # their QA records
    objects: list[int]  # the instance id each question names (0: none)
    explorer: list[int]  # the questions the attention explorer shows: the first that name one

    @classmethod
    def build(cls, ref: ModelSource, n_scenes: int, proxies: list[str], n_explorer: int
              ) -> EvalItems:  # fmt: skip
        data = eval_data(ref, n_scenes, proxies)
        pairs = [(i, q) for i in range(len(data)) for q in range(len(data.scenes[i].questions))]
        questions = [data.scenes[i].questions[q] for i, q in pairs]
        objects = [qa.objects[0] if qa.objects else 0 for qa in questions]
        return cls(
            data=data,
            scene_of=[i for i, _ in pairs],
            qa=[data.understanding(i, q) for i, q in pairs],
            questions=questions,
            objects=objects,
            explorer=[k for k, o in enumerate(objects) if o][:n_explorer],
        )

    def scene(self, k: int):
        """The scene question k asks about."""
        return self.data.scenes[self.scene_of[k]]


@dataclass(frozen=True)
class ProbeItems:
    """The held-out scenes whose image patches the probes, CKA and UMAP see: the first of the
    world's "probe" split (a generated world's are disjoint from its eval scenes, a folder's
    are its held-out images, as its eval scenes are)."""

    data: TaskData
    labels: dict[str, np.ndarray]  # [n_images, P] per label kind (capture.labels.patch_labels)
    items: list[Item]  # one understanding item per scene: only its image positions are used

    @classmethod
    def build(cls, ref: ModelSource, world, n_scenes: int) -> ProbeItems:
        data = ref.task_data(world, world.split("probe")[:n_scenes])
        labels = patch_labels(data.scenes, ref.grid.patch_size, world.colors)
        return cls(data, labels, [data.understanding(i, 0) for i in range(len(data))])

    @property
    def image_of(self) -> np.ndarray:
        """[N] the image of each patch row of the residuals (rows are image-major)."""
        n_images, n_patches = self.labels["class"].shape
        return np.repeat(np.arange(n_images), n_patches)

    def flat(self, kind: str) -> np.ndarray:
        """[N] one label kind per patch row."""
        return self.labels[kind].reshape(-1)


class Inputs:
    """The checkpoints under comparison and everything the suites compute on, built on first
    use. The first checkpoint is the reference: its world and tokenizer make the items.

    A suite that must leave part of its work out on this world (a folder world's generations
    cannot be judged) calls `skip` with the reason, which the report keeps under `skipped`.
    """

    def __init__(self, loaded: list[ModelSource], names: list[str], cfg, stopwatch: Stopwatch):
        self.loaded = dict(zip(names, loaded, strict=True))
        self.names = names
        self.cfg = cfg  # CompareConfig
        self.ref = loaded[0]
        self.stopwatch = stopwatch
        self._residuals: dict[str, np.ndarray] = {}
        self.skipped: dict[str, str] = {}  # ReportData.skipped: what was left out -> why

    def skip(self, what: str, why: str) -> None:
        """Record that `what` (a `report.schema.SkipKind`) is left out of this report, and why."""
        self.skipped[what] = why
        if self.stopwatch.progress:
            console.print(f"  [yellow]{what} skipped[/]: {why}")

    @property
    def n_layers(self) -> int:
        return self.ref.n_layers

    @property
    def proxies(self) -> list[str]:
        """The proxies whose quality the benchmarks score: every tuned one, and segmentation
        (the paper's proxy, whose maps every checkpoint is asked for), in PROXIES order."""
        tuned = {ld.proxy for ld in self.loaded.values() if ld.proxy and ld.proxy != "none"}
        return [p for p in PROXIES if p in tuned | {"segmentation"}]

    @cached_property
    def world(self):
        """The reference's scene world, which every checkpoint shares (check_comparable)."""
        return self.ref.world()

    @cached_property
    def benchmark_data(self) -> TaskData:
        """The first `n_scenes` eval scenes: the understanding and generation benchmarks."""
        with self.stopwatch("data"):
            return eval_data(self.ref, self.cfg.n_scenes)

    @cached_property
    def proxy_data(self) -> TaskData:
        """The first `n_proxy_scenes` of those, with every scored proxy's items."""
        with self.stopwatch("data"):
            return eval_data(self.ref, self._first(self.cfg.n_proxy_scenes), self.proxies)

    @cached_property
    def eval(self) -> EvalItems:
        """The first `n_analysis_scenes` of those and their questions (attention, knockout)."""
        with self.stopwatch("data"):
            return EvalItems.build(self.ref, self._first(self.cfg.n_analysis_scenes),
                                   self.proxies, self.cfg.n_explorer)  # fmt: skip

    def _first(self, n: int) -> int:
        """A subset of the benchmark scenes is their first n: never more than n_scenes."""
        return min(n, self.cfg.n_scenes)

    @cached_property
    def probe(self) -> ProbeItems:
        with self.stopwatch("data"):
            return ProbeItems.build(self.ref, self.world, self.cfg.n_probe_scenes)

    def runner(self, name: str) -> HookedRunner:
        """The checkpoint wrapped for hooked forward passes (booted once)."""
        return self.loaded[name].runner()

    def residuals(self, name: str) -> np.ndarray:
        """float32 [L, N, d]: every layer's residual stream at the probe scenes' image
        positions, rows image-major (ProbeItems.image_of)."""
        if name not in self._residuals:
            items = self.probe.items
            with self.stopwatch("capture"):
                X, _ = capture_residuals(self.runner(name), items, list(range(self.n_layers)),
                                         batch_size=self.cfg.batch_size,
                                         progress=self.stopwatch.progress)  # fmt: skip
            self._residuals[name] = X
        return self._residuals[name]
