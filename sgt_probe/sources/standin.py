"""`sgt-probe standin emu3`: a tiny random Emu3 directory, to try the Hugging Face path offline.

It is what a released Emu3 directory is (config.json, model.safetensors, processor and
tokenizer files), only small and untrained: a 4-layer decoder of width 64, a VQ-VAE that reads
a world image at 64x64 pixels as 8x8 codes (Emu3 reads 512x512 and more as 64x64 codes and
more), and a byte-level BPE tokenizer (GPT-2 style, as Emu3's) trained here on the generated
worlds' words, with Emu3's special tokens and one visual token per code.

The VQ-VAE is the same for every seed, as Emu3's released models share one vision tokenizer:
a seed draws a new decoder, the scenes stay the same tokens, so stand-ins of two seeds compare.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    Emu3Config,
    Emu3ForConditionalGeneration,
    Emu3ImageProcessor,
    Emu3Processor,
    Emu3TextConfig,
    Emu3VQVAE,
    Emu3VQVAEConfig,
    PreTrainedTokenizerFast,
)

from sgt_probe.checkpoint import atomic_dir
from sgt_probe.data.spec import WORLDS, DataSpec
from sgt_probe.data.text import NUMBER_WORDS
from sgt_probe.sources.emu3 import quiet
from sgt_probe.sources.emu3_items import CUE, DESCRIBE, INSTRUCTIONS, NEXT_USER, USER
from sgt_probe.sources.hfdir import write_sidecar

# Emu3's special tokens (Emu3-Chat-hf's tokenizer names them so)
PAD, BOS, EOS = "<|endoftext|>", "<|extra_203|>", "<|extra_204|>"
EOL, EOF = "<|extra_200|>", "<|extra_201|>"
ROLES = {"image_token": "<image>", "boi_token": "<|image start|>",
         "eoi_token": "<|image end|>", "image_wrapper_token": "<|image token|>",
         "eof_token": EOF}  # fmt: skip
SPECIALS = [PAD, BOS, EOS, EOL, *ROLES.values()]
N_CODES = 256
SIDE = 64  # the processor resizes every image to SIDE x SIDE pixels: 8 x 8 codes
BPE_MERGES = 1200  # enough that every world word (with and without a leading space) is one token
VQ_SEED = 1234  # one vision tokenizer for every seed (see the module docstring)


def visual_token(code: int) -> str:
    return f"<|visual token {code:06d}|>"


def _corpus() -> list[str]:
    """Every word the generated worlds and the Emu3 prompts use, alone and after a space (the
    two forms a byte-level BPE sees), plus the digits and '*' of the image size."""
    from sgt_probe.data import make_world

    words = set(NUMBER_WORDS)
    for world in WORLDS:
        if world != "folder":
            words |= set(make_world(DataSpec(world=world)).words())
    for text in (USER, NEXT_USER, CUE, DESCRIBE, *INSTRUCTIONS.values()):
        words |= set(text.split())
    return sorted(words) + [" " + w for w in sorted(words)] + ["0123456789*"]


def build_tokenizer() -> PreTrainedTokenizerFast:
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=256 + len(SPECIALS) + BPE_MERGES, special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    tk.train_from_iterator(_corpus(), trainer)
    # the visual tokens last, one contiguous block, as in Emu3's vocabulary
    tk.add_special_tokens([visual_token(i) for i in range(N_CODES)])
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=BOS, eos_token=EOS,
                                   pad_token=PAD, extra_special_tokens=ROLES)  # fmt: skip


def build_config(vocab: dict[str, int]) -> Emu3Config:
    text = Emu3TextConfig(
        vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        pad_token_id=vocab[PAD], bos_token_id=vocab[BOS], eos_token_id=vocab[EOS],
    )  # fmt: skip
    # Four stages: the 8x downsampling Emu3's processor assumes. A temporal factor of 1: a
    # still image is not repeated into a 4-frame clip, which is 9x faster on a CPU.
    vq = Emu3VQVAEConfig(
        codebook_size=N_CODES, embed_dim=4, latent_channels=4, base_channels=32,
        channel_multiplier=[1, 1, 1, 1], num_res_blocks=1, attn_resolutions=[],
        temporal_downsample_factor=1, hidden_size=32, num_attention_heads=1,
    )  # fmt: skip
    config = Emu3Config(text_config=text, vq_config=vq, vocabulary_map=vocab)
    config.architectures = ["Emu3ForConditionalGeneration"]
    return config


def write_standin(out: str | Path, seed: int = 0) -> Path:
    """Write the stand-in directory at `out` (atomically); returns `out`."""
    tokenizer = build_tokenizer()
    processor = Emu3Processor(Emu3ImageProcessor(min_pixels=SIDE * SIDE, max_pixels=SIDE * SIDE),
                              tokenizer)  # fmt: skip
    config = build_config(tokenizer.get_vocab())
    torch.manual_seed(seed)
    model = Emu3ForConditionalGeneration(config).eval()
    torch.manual_seed(VQ_SEED)
    model.model.vqmodel.load_state_dict(Emu3VQVAE(config.vq_config).state_dict())
    with atomic_dir(out) as tmp, quiet():
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        write_sidecar(tmp, {"stage": "base", "proxy": None, "seed": seed, "step": 0,
                            "made_by": "sgt-probe standin emu3"})  # fmt: skip
    return Path(out)
