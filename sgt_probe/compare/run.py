"""Compare several checkpoints on the same items: run the chosen suites, write the report dir.

A checkpoint is an sgt-probe `.pt` file or a Hugging Face model directory, each opened as a
model source (`sgt_probe.sources`). Layout of the report dir: `sgt_probe.report.format`; its
report.json is the schema in `sgt_probe.report.schema`. The first checkpoint is the reference
for paired deltas and CKA. What a suite cannot do on the compared world is left out, with the
reason, under `skipped`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from sgt_probe.checkpoint import CheckpointError
from sgt_probe.compare.config import CompareConfig
from sgt_probe.compare.inputs import Inputs, Stopwatch
from sgt_probe.compare.suites import select
from sgt_probe.data.spec import DataSpec
from sgt_probe.report.format import write_report
from sgt_probe.report.schema import (
    DEFINITIONS,
    SCHEMA_VERSION,
    Checkpoint,
    ModelInfo,
    ReportData,
)
from sgt_probe.sources.base import ModelSource
from sgt_probe.sources.open import open_sources

console = Console(stderr=True)


def check_comparable(sources: list[ModelSource]) -> None:
    """The items are made once, by the reference, and fed to every checkpoint: each must read
    them as the reference does (open_sources has checked they share a world)."""
    ref = sources[0]
    for other in sources[1:]:
        if type(other) is not type(ref):
            raise CheckpointError(
                f"{other.path}: model kind {other.kind!r} differs from {ref.path}'s "
                f"{ref.kind!r}; compare models of one kind"
            )
        if other.tokens != ref.tokens:
            raise CheckpointError(
                f"{other.path}: tokenizes scenes differently from {ref.path} (another "
                "vocabulary, or image tokenizer)"
            )
        if other.n_layers != ref.n_layers or other.grid.grid != ref.grid.grid:
            raise CheckpointError(
                f"{other.path}: layer count or image grid differs from {ref.path}"
            )


def checkpoint_names(sources: list[ModelSource]) -> list[str]:
    """Short unique labels: 'base' for a base checkpoint, else the proxy; the file stem for a
    model without either, and for every checkpoint whose label another one has too (a study
    arm's segmentation-256 and segmentation-1024)."""
    labels = ["base" if ld.stage == "base" else (ld.proxy or ld.path.stem) for ld in sources]
    names = []
    for ld, label in zip(sources, labels, strict=True):
        name = label if labels.count(label) == 1 else ld.path.stem
        while name in names:
            name += "'"
        names.append(name)
    return names


def run_compare(paths: list[str | Path], out: str | Path, cfg: CompareConfig = CompareConfig(),
                progress: bool = True, spec: DataSpec | None = None) -> ReportData:  # fmt: skip
    """`spec`: the world to compare on (needed when only model directories are given; a
    checkpoint or tuned directory that carries another is refused)."""
    if len(paths) < 2:
        raise ValueError("compare needs at least two checkpoints")
    suites = select(cfg.suites)  # an unknown suite is refused before anything loads
    stopwatch = Stopwatch(progress)
    with stopwatch("load"):
        loaded = open_sources(paths, spec, cfg.device)
        check_comparable(loaded)
    names = checkpoint_names(loaded)
    inputs = Inputs(loaded, names, cfg, stopwatch)
    arrays: dict = {}
    sections = {}
    for suite in suites:
        if progress:
            console.print(f"[bold]{suite.NAME}[/]")
        with stopwatch(suite.NAME):
            sections[suite.NAME] = suite.run(inputs, arrays)
    m = inputs.ref
    report = ReportData(
        schema_version=SCHEMA_VERSION,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        suites=list(sections),
        skipped=inputs.skipped,
        definitions={k: v for name in sections for k, v in DEFINITIONS[name].items()},
        data=inputs.ref.spec.to_dict(),
        model=ModelInfo(
            n_layers=m.n_layers,
            n_heads=m.n_heads,
            d_model=m.d_model,
            grid=m.grid.grid,
            patch_size=m.grid.patch_size,
            preset=m.kind,
        ),  # fmt: skip
        compare_config=asdict(cfg),
        checkpoints=[
            Checkpoint(
                name=name,
                path=str(ld.path),
                proxy=ld.proxy,
                stage=ld.stage,
                seed=ld.seed,
                step=ld.step,
                recipe=ld.recipe,
                settings=ld.settings,
            )  # fmt: skip
            for name, ld in zip(names, loaded, strict=True)
        ],
        timings=stopwatch.seconds,
        **sections,
    )
    write_report(Path(out), report, arrays)
    return report
