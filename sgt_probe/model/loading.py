"""Rebuild everything a checkpoint describes: model, vocabulary, VQ tokenizer and world.

Its contents are checked (`sgt_probe.model.checks`) before anything is built, and the modules
that build (transformers, scikit-learn) are imported only then: a bad file is refused fast.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from sgt_probe.checkpoint import Checkpoint, load_checkpoint
from sgt_probe.data import make_world
from sgt_probe.data.spec import DataSpec
from sgt_probe.model.checks import Contents, check_contents
from sgt_probe.model.config import ModelConfig, TrainConfig
from sgt_probe.model.vocab import Vocab

if TYPE_CHECKING:
    from sgt_probe.model.unified import UnifiedModel
    from sgt_probe.tokenizer import Tokenizer


@dataclass
class Loaded:
    path: Path | None
    model: UnifiedModel
    vocab: Vocab
    tokenizer: Tokenizer
    spec: DataSpec
    # the file's contents and how it was trained or tuned; None for a model built in memory
    # (tests, benchmarks)
    ckpt: Checkpoint | None = None
    train: TrainConfig | None = None

    @property
    def cfg(self) -> ModelConfig:
        return self.model.cfg

    @property
    def proxy(self) -> str | None:
        return self.ckpt.proxy if self.ckpt else None

    def world(self):
        return make_world(self.spec)


def build_model(cfg: ModelConfig, vocab: Vocab, seed: int) -> UnifiedModel:
    from sgt_probe.model.unified import UnifiedModel

    torch.manual_seed(seed)
    return UnifiedModel(replace(cfg, vocab_size=len(vocab)), img_token_id=vocab["<img>"])


def read_checkpoint(path: str | Path) -> Contents:
    """The checkpoint at `path`, its file and contents checked; nothing built from it."""
    return check_contents(path, load_checkpoint(path))


def load_model(path: str | Path, device: str | torch.device = "cpu") -> Loaded:
    c = read_checkpoint(path)
    from sgt_probe.model.unified import UnifiedModel  # only now: it imports transformers
    from sgt_probe.tokenizer import tokenizer_from_state

    model = UnifiedModel(c.cfg, img_token_id=c.vocab["<img>"])
    model.load_state_dict(c.ckpt.state_dict)  # names and shapes are checked: it fits
    model.to(device).eval()
    tokenizer = tokenizer_from_state(c.ckpt.tokenizer)
    return Loaded(Path(path), model, c.vocab, tokenizer, c.spec, c.ckpt, c.train)
