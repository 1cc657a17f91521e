"""Option types the commands share, checked while the command line is parsed: a bad value is a
one-line error naming the option before any work starts, or any heavy module is imported.

Each check raises `typer.BadParameter` with the problem; typer prefixes the option's name
("Invalid value for '--steps': ..."). Only the standard library, typer and the project's
light constant modules are imported here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

import typer

from sgt_probe.data.proxies import PROXIES
from sgt_probe.data.spec import MAX_IMAGE_SIZE, WORLDS, DataSpec
from sgt_probe.model.config import PRESETS, RECIPES, VISION_INPUTS
from sgt_probe.model.limits import SEED_MAX, beyond_memory, scene_bytes
from sgt_probe.pipeline import cores

GENERATED_WORLDS = tuple(w for w in WORLDS if w != "folder")


def between(lo: float, hi: float):
    """A check that a number lies strictly between lo and hi (None passes: not given)."""

    def check(value: float | None) -> float | None:
        if value is not None and not lo < value < hi:
            raise typer.BadParameter(f"{value} is not between {lo} and {hi} (both excluded)")
        return value

    return check


def _image_size(value: int | None) -> int | None:
    if value is not None and (not 16 <= value <= MAX_IMAGE_SIZE or value % 4):
        raise typer.BadParameter(f"{value} is not a multiple of 4 in 16..{MAX_IMAGE_SIZE}")
    return value


def _jobs(value: int | None) -> int | None:
    """--jobs: worker processes, each holding its own copy of the training stack, that split
    the cores between them (sgt_probe.pipeline): more than the cores only costs memory."""
    if value is not None and not 1 <= value <= cores():
        raise typer.BadParameter(f"{value} is not in 1..{cores()}, the CPU cores of this machine")
    return value


def fits(option: str, need: int, what: str) -> None:
    """BadParameter naming `option` when `what`, which needs `need` bytes, would not fit this
    machine's memory (checked before any work: a count of a billion ran until it was killed)."""
    problem = beyond_memory(need)
    if problem:
        raise typer.BadParameter(f"{what} {problem}", param_hint=f"'{option}'")


def scenes_fit(option: str, n: int, image_size: int, each: int = 0) -> None:
    """`n` scenes of `image_size` pixels, rendered and held at once (plus `each` bytes apiece
    of what is made of them), fit this machine's memory; else BadParameter naming `option`."""
    need = n * (scene_bytes(image_size) + each)
    fits(option, need, f"{n:,} scenes of {image_size} pixels")


def trained_world(path: Path) -> DataSpec | None:
    """The world the checkpoint or model directory at `path` was trained or tuned on (None: a
    model this project did not make). Its file is checked now, before minutes of work start (a
    model directory was checked while parsing); only torch is imported for it."""
    if path.is_dir():
        from sgt_probe.sources.hfdir import dir_world

        return dir_world(path)
    from sgt_probe.model.loading import read_checkpoint

    return read_checkpoint(path).spec


def scene_side(spec: DataSpec | None, trained: list[DataSpec | None]) -> int:
    """The side of the scenes a command renders: --image-size's (with --world), else that of the
    world the models were trained on (`trained_world`)."""
    if spec is not None:
        return spec.image_size
    sides = [t.image_size for t in trained if t is not None]
    return sides[0] if sides else DataSpec().image_size


def _device(ctx: typer.Context, value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"cpu|cuda(:\d+)?", value):
        raise typer.BadParameter(f"{value!r} is not cpu, cuda or cuda:N")
    # the jobs of a study run on a Ray cluster's nodes: the pipeline checks their GPUs
    if value.startswith("cuda") and not ctx.params.get("address"):
        import torch  # only when CUDA is asked for

        if not torch.cuda.is_available():
            raise typer.BadParameter("CUDA is not available on this machine")
    return value


def _address(value: str | None) -> str | None:
    if value and value != "auto" and not re.fullmatch(r"[\w.-]+:\d{1,5}", value):
        raise typer.BadParameter(
            f"{value!r} is not HOST:PORT (the head node's address that `ray start --head` shows)"
        )
    return value or None


def _gpu_share(value: float | None) -> float | None:
    if value is not None and not 0 < value <= 1:
        raise typer.BadParameter(f"{value} is not a share of one GPU (above 0, at most 1)")
    return value


def names_from(allowed: tuple[str, ...]):
    """A check of a comma-separated list of names, each one of `allowed`."""

    def check(value: str | None) -> str | None:
        unknown = [n for n in (value or "").split(",") if n and n not in allowed]
        if unknown:
            raise typer.BadParameter(
                f"unknown {', '.join(map(repr, unknown))}; choose from {', '.join(allowed)}"
            )
        return value

    return check


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable_from(path: Path) -> None:
    """`path` (absent) can be created: its nearest existing ancestor is a writable folder."""
    top = _nearest_existing(path.parent)
    if not top.is_dir():
        raise typer.BadParameter(f"{path}: {top} is a file, not a folder")
    if not os.access(top, os.W_OK | os.X_OK):
        raise typer.BadParameter(f"{path}: cannot write in {top}")


def out_file(value: Path | None) -> Path | None:
    """An output file: not a folder, and writable where it is or can be created."""
    if value is None:
        return None
    if value.is_dir():
        raise typer.BadParameter(f"{value} is a folder; give a file path")
    if value.exists():
        if not os.access(value, os.W_OK):
            raise typer.BadParameter(f"{value} is not writable")
    else:
        _writable_from(value)
    return value


def out_dir(value: Path) -> Path:
    """An output folder: a writable folder, or one that can be created."""
    if value.exists():
        if not value.is_dir():
            raise typer.BadParameter(f"{value} is a file, not a folder")
        if not os.access(value, os.W_OK | os.X_OK):
            raise typer.BadParameter(f"{value} is not writable")
    else:
        _writable_from(value)
    return value


def _checkpoint(value: Path) -> Path:
    """A checkpoint to read: a .pt file that exists (its contents are checked when read), or a
    Hugging Face model directory of a supported architecture with its weights and processor
    files. Raises CheckpointError, the same one line as loading it would."""
    if value.is_dir():
        from sgt_probe.sources.hfdir import check_model_dir  # light: reads JSON only

        return check_model_dir(value)
    return _checkpoint_file(value)


def _checkpoint_file(value: Path) -> Path:
    from sgt_probe.checkpoint import check_file  # light: torch is imported only to read

    return check_file(value)


def _checkpoints(values: list[Path]) -> list[Path]:
    if len(values) < 2:
        raise typer.BadParameter("compare needs at least two checkpoints")
    return [_checkpoint(v) for v in values]


def model_world(world: str | None, path: Path | None, image_size: int | None):
    """The DataSpec a model directory is read on (--world, --path, --image-size), or None when
    no --world is given; the other two without it are refused."""
    if world is None:
        if path is not None or image_size is not None:
            raise typer.BadParameter("--path and --image-size go with --world")
        return None
    return DataSpec(world, image_size=image_size or 32, path=str(path) if path else None)


World = Annotated[Literal[WORLDS], typer.Option(help="the scene world")]
GeneratedWorld = Annotated[Literal[GENERATED_WORLDS], typer.Option(help="the scene world")]
FolderPath = Annotated[
    Path | None,
    typer.Option("--path", exists=True, file_okay=False, help="data dir for --world folder"),
]
EvalFraction = Annotated[
    float,
    typer.Option(callback=between(0, 1), help="share of a folder's images held out for evals"),
]
Preset = Annotated[Literal[tuple(PRESETS)], typer.Option(help="model and schedule preset")]
Proxy = Annotated[Literal[PROXIES], typer.Option(help="the generative proxy task")]
Recipe = Annotated[
    Literal[tuple(RECIPES)],
    typer.Option(help="tuning recipe: paper (proxy:dialogues 2:1, weight 1, constant rate; "
                 "its none is dialogues alone) or weighted (proxy 1:1 with every base task, "
                 "weight 8)"),
]  # fmt: skip
VisionInput = Annotated[Literal[VISION_INPUTS], typer.Option(help="how the model reads images")]
Seed = Annotated[int, typer.Option(min=0, max=SEED_MAX, help="random seed")]
Steps = Annotated[int | None, typer.Option(min=1, help="override the preset's step count")]
ImageSize = Annotated[
    int, typer.Option(callback=_image_size, help="scene side in pixels (multiple of 4)")
]
Jobs = Annotated[
    int | None,
    typer.Option(
        callback=_jobs, help="jobs side by side, at most one per core (default: one per core up "
        "to 4, 1 when training a base; on GPU, as many as --gpus-per-job packs)"
    ),
]  # fmt: skip
ModelWorld = Annotated[
    Literal[WORLDS] | None,
    typer.Option(
        "--world", help="the scene world a model directory is read on (default: the one the "
        "models were trained or tuned on)"
    ),
]  # fmt: skip
ModelImageSize = Annotated[
    int | None,
    typer.Option(callback=_image_size, help="with --world: scene side in pixels (default 32)"),
]
Device = Annotated[
    str | None,
    typer.Option(callback=_device, help="cpu | cuda | cuda:N (default: cuda if present)"),
]
Address = Annotated[
    str | None,
    typer.Option(
        callback=_address, envvar="RAY_ADDRESS", is_eager=True,
        help="run the jobs on the Ray cluster at HOST:PORT (default: a Ray started on this "
        "machine for the run; docs/ray.md)",
    ),
]  # fmt: skip
GpusPerJob = Annotated[
    float | None,
    typer.Option(
        callback=_gpu_share,
        help="on a GPU, the share of one each job asks for (0.25: four jobs per GPU; default 1)",
    ),
]
Resume = Annotated[
    bool,
    typer.Option(
        help="continue an interrupted run at --out, or extend a finished one to a larger --steps"
    ),
]
Checkpoint = Annotated[
    Path,
    typer.Argument(callback=_checkpoint, help="checkpoint (.pt) or model directory to read"),
]
Checkpoints = Annotated[
    list[Path],
    typer.Argument(
        callback=_checkpoints,
        help="two or more checkpoints (.pt) or model directories; the first is the reference",
    ),
]
InitFrom = Annotated[
    Path | None,
    typer.Option(
        callback=lambda v: _checkpoint_file(v) if v else None,
        help="start from this base: with its tokenizer settings, continue it (its tokenizer and "
        "every weight, a fresh learning-rate schedule); with others, keep all but its image "
        "codes' rows and fit the run's own tokenizer",
    ),
]
OutCheckpoint = Annotated[Path, typer.Option(callback=out_file, help="checkpoint to write")]
