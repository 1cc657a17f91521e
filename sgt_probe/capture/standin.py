"""A tiny random `Emu3ForConditionalGeneration` built from a config: the offline stand-in for a
real UMM checkpoint. It shows capture reaches a real unified architecture through the same
bridge, hook names and token-role map (image positions hold VQ code ids, Emu3-style)."""

from __future__ import annotations

import tempfile

import torch
from transformers import Emu3Config, Emu3ForConditionalGeneration, Emu3TextConfig, Emu3VQVAEConfig

from sgt_probe.capture.bridge import HookedRunner, boot
from sgt_probe.model.config import ModelConfig
from sgt_probe.model.vocab import Vocab


def tiny_emu3(vocab: Vocab, d_model: int = 64, n_layers: int = 2, n_heads: int = 4,
              seed: int = 0) -> Emu3ForConditionalGeneration:  # fmt: skip
    text = Emu3TextConfig(
        vocab_size=len(vocab), hidden_size=d_model, intermediate_size=2 * d_model,
        num_hidden_layers=n_layers, num_attention_heads=n_heads, num_key_value_heads=n_heads,
        max_position_embeddings=256, pad_token_id=vocab["<pad>"], bos_token_id=vocab["<bos>"],
        eos_token_id=vocab["<eog>"],
    )  # fmt: skip
    # The VQ-VAE is never run here (images arrive as code ids); it only has to be small.
    vq = Emu3VQVAEConfig(
        codebook_size=vocab.n_codes, embed_dim=4, latent_channels=4, base_channels=32,
        channel_multiplier=[1, 1], num_res_blocks=1, attn_resolutions=[], hidden_size=32,
        num_attention_heads=1,
    )  # fmt: skip
    visual = {f"<|visual token {i:06d}|>": vocab.code_offset + i for i in range(vocab.n_codes)}
    cfg = Emu3Config(text_config=text, vq_config=vq, vocabulary_map=visual)
    cfg.architectures = ["Emu3ForConditionalGeneration"]
    torch.manual_seed(seed)
    return Emu3ForConditionalGeneration(cfg).eval()


def emu3_runner(vocab: Vocab, cfg: ModelConfig, seed: int = 0) -> tuple[HookedRunner, object]:
    """A HookedRunner over the stand-in (image inputs as VQ codes); returns (runner, hf_model)."""
    if cfg.vision_input != "vq":
        raise ValueError("the Emu3 stand-in reads images as VQ codes: use vision_input='vq'")
    model = tiny_emu3(vocab, seed=seed)
    with tempfile.TemporaryDirectory() as d:
        bridge = boot(model, vocab.save_hf_tokenizer(d), name="emu3-standin")
    return HookedRunner(bridge, cfg), model
