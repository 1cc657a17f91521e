"""`UnifiedModel`: a Hugging Face Llama decoder plus a learned patch encoder.

The HF model (`.lm`) is a plain `LlamaForCausalLM` so TransformerBridge can wrap the very same
object for analysis; the patch encoder's output replaces the token embeddings at `<img>`
positions, which is also how capture injects it (a hook on `hook_embed`).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from sgt_probe.model.config import ModelConfig


class PatchEncoder(nn.Module):
    """Pixels of each patch -> one embedding, plus a learned position per patch."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.proj = nn.Linear(cfg.patch_size * cfg.patch_size * 3, cfg.d_model)
        self.pos = nn.Parameter(torch.zeros(cfg.n_patches, cfg.d_model))
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        # pixels: [B, P, p*p*3] in [-1, 1] -> [B, P, d]
        return self.proj(pixels) + self.pos


def llama_config(cfg: ModelConfig) -> LlamaConfig:
    lc = LlamaConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        intermediate_size=cfg.d_ff,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_heads,
        max_position_embeddings=cfg.max_len,
        tie_word_embeddings=False,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=6,
        attn_implementation="eager",
    )
    # TransformerBridge picks its architecture adapter from here.
    lc.architectures = ["LlamaForCausalLM"]
    return lc


class UnifiedModel(nn.Module):
    def __init__(self, cfg: ModelConfig, img_token_id: int):
        super().__init__()
        if cfg.vocab_size <= 0:
            raise ValueError("ModelConfig.vocab_size must be set from the vocabulary")
        self.cfg = cfg
        self.img_token_id = img_token_id
        self.lm = LlamaForCausalLM(llama_config(cfg))
        self.patch_encoder = PatchEncoder(cfg)

    def embed(self, input_ids: torch.Tensor, pixels: torch.Tensor | None) -> torch.Tensor:
        """Token embeddings with the patch encoder's output at `<img>` positions.

        input_ids: [B, T]; pixels: [B, P, p*p*3] for rows that hold an image (any rows without
        `<img>` tokens are ignored). Every row with `<img>` tokens holds exactly P of them.
        """
        emb = self.lm.get_input_embeddings()(input_ids)  # [B, T, d]
        if pixels is None or self.cfg.vision_input != "patch":
            return emb
        is_img = input_ids == self.img_token_id  # [B, T]
        if not bool(is_img.any()):
            return emb
        rows = is_img.any(dim=1)
        patches = self.patch_encoder(pixels[rows].to(emb.dtype))  # [B', P, d]
        emb = emb.clone()
        emb[is_img] = patches.reshape(-1, patches.shape[-1])
        return emb

    def forward(self, input_ids: torch.Tensor, pixels: torch.Tensor | None = None, **kw):
        return self.lm(inputs_embeds=self.embed(input_ids, pixels), **kw)
