"""Rebuild everything a checkpoint describes: model, vocabulary, VQ tokenizer and world."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from sgt_probe.checkpoint import CheckpointError, load_checkpoint
from sgt_probe.data import make_world
from sgt_probe.data.spec import DataSpec
from sgt_probe.model.config import ModelConfig
from sgt_probe.model.unified import UnifiedModel
from sgt_probe.model.vocab import Vocab
from sgt_probe.tokenizer.vq import VQTokenizer


@dataclass
class Loaded:
    path: Path | None
    ckpt: dict
    model: UnifiedModel
    vocab: Vocab
    tokenizer: VQTokenizer
    spec: DataSpec

    @property
    def cfg(self) -> ModelConfig:
        return self.model.cfg

    @property
    def proxy(self) -> str | None:
        return self.ckpt.get("proxy")

    def world(self):
        return make_world(self.spec)


def build_model(cfg: ModelConfig, vocab: Vocab, seed: int) -> UnifiedModel:
    torch.manual_seed(seed)
    return UnifiedModel(replace(cfg, vocab_size=len(vocab)), img_token_id=vocab["<img>"])


def load_model(path: str | Path, device: str | torch.device = "cpu") -> Loaded:
    ckpt = load_checkpoint(path)
    try:
        cfg = ModelConfig.from_dict(ckpt["model_config"])
        vocab = Vocab.from_dict(ckpt["vocab"])
        model = UnifiedModel(cfg, img_token_id=vocab["<img>"])
        model.load_state_dict(ckpt["state_dict"])
        tokenizer = VQTokenizer.from_state_dict(ckpt["tokenizer"])
        spec = DataSpec.from_dict(ckpt["data_spec"])
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: damaged checkpoint contents ({first})") from None
    model.to(device).eval()
    return Loaded(Path(path), ckpt, model, vocab, tokenizer, spec)
