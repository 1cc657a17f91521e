"""Open the models a command names, each as a `ModelSource`, on one scene world."""

from __future__ import annotations

from pathlib import Path

from sgt_probe.checkpoint import CheckpointError
from sgt_probe.data.spec import DataSpec
from sgt_probe.model.loading import load_model
from sgt_probe.sources.base import ModelSource
from sgt_probe.sources.checkpoint import CheckpointSource
from sgt_probe.sources.hfdir import dir_world, model_type


def source_class(path: str | Path) -> type:
    """The model source of a checked model directory's architecture; its module is imported
    only now (it imports that architecture's transformers stack)."""
    kind = model_type(path)
    if kind == "janus":
        from sgt_probe.sources.janus import JanusSource

        return JanusSource
    if kind == "chameleon":
        from sgt_probe.sources.chameleon import ChameleonSource

        return ChameleonSource
    from sgt_probe.sources.emu3 import Emu3Source

    return Emu3Source


def open_sources(paths: list[str | Path], spec: DataSpec | None = None, device: str = "cpu"
                 ) -> list[ModelSource]:  # fmt: skip
    """Each path (a .pt checkpoint or a model directory) opened on one world.

    The world is `spec` when given, else the one the models were trained or tuned on. A model
    that carries a world (a checkpoint, a tuned directory) must carry that one; a released model
    takes it. CheckpointError, naming the path, when they disagree or none names a world.
    """
    paths = [Path(p) for p in paths]
    own: dict[Path, DataSpec | None] = {}
    checkpoints: dict[Path, CheckpointSource] = {}
    for p in paths:
        if p.is_dir():
            own[p] = dir_world(p)
        else:
            checkpoints[p] = CheckpointSource(load_model(p, device))
            own[p] = checkpoints[p].spec
    world = spec or next((s for s in own.values() if s is not None), None)
    if world is None:
        raise CheckpointError(
            f"{paths[0]}: a model directory names no scene world; pass --world (and --path for "
            "a folder)"
        )
    for p, s in own.items():
        if s is not None and s != world:
            raise CheckpointError(
                f"{p}: trained on world {s.to_dict()}, but the comparison is on "
                f"{world.to_dict()}; compare models of the same world"
            )
    return [checkpoints.get(p) or source_class(p)(p, world, device) for p in paths]
