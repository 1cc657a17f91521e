"""A Hugging Face model directory: what makes one usable here, checked from its files alone.

`check_model_dir` reads only JSON and file names, so the CLI refuses a directory that is not a
supported model, lacks its weights or processor files, or whose settings are out of range or
beyond this machine's memory (`hfchecks`), in one line before any heavy import.
A directory this project writes (a stand-in, a tuning) also holds `sgt_probe.json` (SIDECAR):
how it was made, and for a tuning the scene world it was tuned on.
"""

from __future__ import annotations

import json
from pathlib import Path

from sgt_probe.checkpoint import CheckpointError
from sgt_probe.data.spec import DataSpec
from sgt_probe.model.limits import Sizes
from sgt_probe.sources.hfchecks import check_settings

SUPPORTED = {"emu3": "Emu3ForConditionalGeneration"}  # config.json model_type -> class
SIDECAR = "sgt_probe.json"
SIDECAR_FORMAT = "sgt-probe-model"
SIDECAR_VERSION = 1
WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
# What Emu3Processor.from_pretrained reads: the processor (with its image processor, or the
# older separate preprocessor file) and a tokenizer (one tokenizer.json, or a BPE's two files).
PROCESSOR = ("processor_config.json", "preprocessor_config.json")
TOKENIZER = (("tokenizer.json",), ("vocab.json", "merges.txt"))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not readable JSON ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a JSON object")
    return data


def check_model_dir(path: str | Path) -> Path:
    """`path` if it is a directory of a supported model with safetensors weights and processor
    files, else CheckpointError naming what is wrong."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such model directory")
    config = path / "config.json"
    if not config.is_file():
        raise CheckpointError(
            f"{path}: not a model directory (no config.json); give a .pt checkpoint or a "
            "Hugging Face model directory"
        )
    model_type = _read_json(config).get("model_type")
    if model_type not in SUPPORTED:
        raise CheckpointError(
            f"{path}: model type {model_type!r} is not supported; sgt-probe opens "
            f"{', '.join(SUPPORTED.values())} directories"
        )
    if not any((path / w).is_file() for w in WEIGHTS):
        raise CheckpointError(f"{path}: no safetensors weights ({' or '.join(WEIGHTS)})")
    missing = []
    if not any((path / p).is_file() for p in PROCESSOR):
        missing.append(" or ".join(PROCESSOR))
    if not (path / "tokenizer_config.json").is_file():
        missing.append("tokenizer_config.json")
    if not any(all((path / f).is_file() for f in files) for files in TOKENIZER):
        missing.append(" or ".join("+".join(files) for files in TOKENIZER))
    if missing:
        raise CheckpointError(
            f"{path}: lacks processor files ({'; '.join(missing)}); copy them from the model's "
            "release beside its weights"
        )
    model_sizes(path)
    read_sidecar(path)  # a damaged one is refused now, not after the model has loaded
    return path


def model_sizes(path: Path) -> Sizes:
    """The sizes of the model at `path` (its files present) from its settings, checked against
    their ranges, each other and this machine's memory before anything is built
    (sources/hfchecks.py)."""
    config = _read_json(path / "config.json")
    file = next(path / p for p in PROCESSOR if (path / p).is_file())
    processor = _read_json(file)
    if file.name == "processor_config.json":  # the image processor's settings are one part
        processor = processor.get("image_processor", {})
    return check_settings(path, config, file, processor)


def read_sidecar(path: Path) -> dict:
    """What this project recorded about the model (empty for a model it did not make)."""
    file = Path(path) / SIDECAR
    if not file.exists():
        return {}
    meta = _read_json(file)
    if meta.get("format") != SIDECAR_FORMAT or meta.get("version") != SIDECAR_VERSION:
        raise CheckpointError(
            f"{file}: not an sgt-probe model record of version {SIDECAR_VERSION} "
            f"(format {meta.get('format')!r}, version {meta.get('version')!r})"
        )
    if meta.get("data_spec") is not None:  # the world a tuning was made on, read as given
        try:
            DataSpec.from_dict(meta["data_spec"])
        except (ValueError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{file}: data_spec: {e}") from None
    return meta


def check_tunable(path: str | Path) -> dict:
    """The record of model directory `path` if it may be tuned (it is not itself a tuning)."""
    meta = read_sidecar(check_model_dir(path))
    if meta.get("stage") == "tune":
        raise CheckpointError(f"{path}: is a tuned model directory; tune a base")
    return meta


def write_sidecar(directory: Path, meta: dict) -> None:
    record = {"format": SIDECAR_FORMAT, "version": SIDECAR_VERSION, **meta}
    (Path(directory) / SIDECAR).write_text(json.dumps(record, indent=1))
