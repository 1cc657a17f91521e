"""What a model, a batch or a scene count may ask of this machine, and the field checks that
every model's settings go through before anything is built from them: our checkpoints'
(`model/checks.py`) and Hugging Face model directories' (`sources/hfchecks.py`) alike.

A setting may come from a crafted file or a careless command line. Each size is checked
against a sane range (far above any released model's, far below what would exhaust a machine
before the memory check could refuse it), then what the model or work would need against the
memory this machine has. Each problem is one CheckpointError line naming the file and the
field, or a message the CLI gives as one line naming the option. Only the standard library is
imported: the CLI applies these checks while it parses.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

from sgt_probe.checkpoint import CheckpointError
from sgt_probe.data.spec import MAX_IMAGE_SIZE

# Sane ranges, each with the largest value a released model uses (as of 2026) beside it.
LAYERS = 1024  # decoder layers (Llama-3.1-405B: 126)
HEADS = 1024  # attention heads (128)
WIDTH = 1 << 16  # hidden sizes, channels (16,384)
FF = 1 << 18  # MLP widths (53,248)
VOCAB = 1 << 22  # vocabulary sizes (Emu3: 184,622)
CODES = 1 << 20  # VQ codebook sizes (Emu3: 32,768)
POSITIONS = 1 << 20  # context lengths, in tokens
PIXELS = 1 << 24  # an image processor's pixel budget: 4096 x 4096 (Emu3: 1024 x 1024)
IMAGE_SIDE = MAX_IMAGE_SIZE  # a scene's side in pixels (the worlds: 32)
SEED_MAX = 2**63 - 1  # numpy's generators and torch.manual_seed take seeds up to here

# Memory of one rendered scene with its items, at `image_size` pixels a side: measured at about
# 20-40 KiB for a 32-pixel eval scene with its proxy maps and tokenized items (RSS over 300
# scenes), taken as a fixed part (the items) and a part per pixel (image, masks, maps).
SCENE_FIXED = 16 << 10
SCENE_PER_PIXEL = 48
FLOAT = 4  # bytes of a float32: weights load in it on a CPU, activations are computed in it
CHUNK = 1 << 24  # elements per finiteness check: bounds its temporary memory to 16 MB


class Fields:
    """One dict of a model's settings (a checkpoint's `model_config`, a config.json's
    `text_config`, an image processor's settings): each getter checks a field's type and range,
    or raises CheckpointError "<file>: <section>.<field> ...". A field the dict lacks takes its
    default (`defaults`: the values the code that builds the model falls back to)."""

    def __init__(self, path: Path, name: str, d, defaults: dict | None = None):
        if not isinstance(d, dict):
            raise CheckpointError(f"{path}: {name or 'the file'} must be a dict, got "
                                  f"{type(d).__name__}")  # fmt: skip
        self.path, self.name, self.d = path, name, d
        self.defaults = defaults or {}

    @classmethod
    def of(cls, path: Path, name: str, d, dataclass_) -> Fields:
        """Fields whose defaults are `dataclass_`'s (a checkpoint section's `from_dict`)."""
        f = fields(dataclass_)
        return cls(path, name, d, {x.name: x.default for x in f if x.default is not MISSING})

    def section(self, key: str, defaults: dict | None = None) -> Fields:
        """The nested dict `key` (e.g. config.json's `text_config`); an absent one is empty."""
        where = f"{self.name}.{key}" if self.name else key
        return Fields(self.path, where, self.d.get(key, {}), defaults)

    def fail(self, key: str, problem: str):
        where = f"{self.name}.{key}" if self.name else key
        raise CheckpointError(f"{self.path}: {where} {problem}")

    def get(self, key: str):
        return self.d.get(key, self.defaults.get(key))

    def integer(self, key: str, lo: int, hi: int | None = None) -> int:
        v = self.get(key)
        # bool is an int subclass, but True is no layer count
        if type(v) is not int or v < lo or (hi is not None and v > hi):
            bounds = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            self.fail(key, f"must be an integer {bounds}, got {v!r}")
        return v

    def number(self, key: str, lo: float, hi: float | None = None, open_lo: bool = False) -> float:
        v = self.get(key)
        ok = type(v) in (int, float) and math.isfinite(v) and (v > lo if open_lo else v >= lo)
        if not ok or (hi is not None and v > hi):
            bounds = f"{'>' if open_lo else '>='} {lo}" + ("" if hi is None else f" and <= {hi}")
            self.fail(key, f"must be a number {bounds}, got {v!r}")
        return v

    def choice(self, key: str, choices, optional: bool = False):
        v = self.get(key)
        if not ((optional and v is None) or (isinstance(v, str) and v in choices)):
            self.fail(key, f"must be one of {', '.join(choices)}, got {v!r}")
        return v

    def integers(self, key: str, lo: int, hi: int, count: tuple[int, int]) -> list[int]:
        """A list of count[0]..count[1] integers, each in lo..hi."""
        v = self.get(key)
        ok = isinstance(v, list | tuple) and count[0] <= len(v) <= count[1]
        if not ok or any(type(x) is not int or not lo <= x <= hi for x in v):
            self.fail(key, f"must be a list of {count[0]} to {count[1]} integers in {lo}..{hi}, "
                      f"got {v!r}")  # fmt: skip
        return list(v)

    def heads(self, width_key: str, heads_key: str) -> tuple[int, int]:
        """A width and a head count that splits it into heads of an even size (rotary position
        embeddings rotate pairs of a head's dimensions)."""
        width, heads = self.integer(width_key, 1, WIDTH), self.integer(heads_key, 1, HEADS)
        if width % heads or (width // heads) % 2:
            self.fail(heads_key, f"must split {width_key} {width} into heads of an even size")
        return width, heads


def machine_memory() -> int:
    """Bytes of memory this machine has (/proc/meminfo's MemTotal; sysconf where it is absent)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def beyond_memory(need: float) -> str | None:
    """None when `need` bytes fit this machine's memory, else what to say: how much it would
    need and how much the machine has."""
    have = machine_memory()
    return None if need <= have else f"would need about {gib(need)}; this machine has {gib(have)}"


def scene_bytes(image_size: int) -> int:
    """Memory of one rendered scene with its tokenized items (see SCENE_FIXED)."""
    return SCENE_FIXED + SCENE_PER_PIXEL * image_size**2


@dataclass(frozen=True)
class Sizes:
    """What a model's memory depends on, read from its settings alone."""

    n_params: int
    vocab: int
    d_model: int
    d_ff: int
    n_layers: int
    seq_len: int  # the longest sequence it is given (ours: max_len; Emu3: an image and a prompt)

    @property
    def weight_bytes(self) -> int:
        return self.n_params * FLOAT

    def batch_bytes(self, n: int) -> int:
        """Training memory of n sequences at their longest: the logits three times over (the
        forward's, the loss's float32 copy, their gradient) and what each layer keeps for the
        backward pass (about 8 activations of the width and 3 of the MLP's)."""
        per_token = 3 * self.vocab + self.n_layers * (8 * self.d_model + 3 * self.d_ff)
        return n * self.seq_len * per_token * FLOAT


def check_weights(path: Path, sizes: Sizes) -> None:
    """CheckpointError when the model's weights alone would not fit this machine's memory."""
    problem = beyond_memory(sizes.weight_bytes)
    if problem:
        raise CheckpointError(f"{path}: the model's {sizes.n_params:,} parameters {problem}")


def first_nonfinite(tensors: Iterable) -> str | None:
    """The name of the first (name, tensor) pair whose tensor holds an inf or a NaN, else None;
    each tensor checked a chunk at a time, so a large one costs no large temporary."""
    for name, t in tensors:
        if not t.is_floating_point():
            continue
        flat = t.detach().reshape(-1)
        for start in range(0, flat.numel(), CHUNK):
            if not bool(flat[start : start + CHUNK].isfinite().all()):
                return name
    return None
