"""What a Hugging Face model directory's settings must satisfy before anything is built from
them: one rule per architecture (ARCHITECTURES, keyed by config.json's `model_type`), each
written with the field checks and ranges that our checkpoints go through too
(`model/limits.py`).

A directory may come from anywhere, and one changed number in a copied release is enough to
hang a machine (a million layers), exhaust its memory (a billion codes, a pixel budget of
10^12) or end in a traceback (no attention heads). A rule checks config.json and the image
processor's settings, each size against its range and the sizes against each other, and
returns the model's `Sizes`, whose weights must then fit this machine's memory. Only JSON is
read, so the CLI applies the rules while it parses. A new architecture is one function here and
its entry in ARCHITECTURES (tests/test_hostile.py checks every supported type has one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sgt_probe.checkpoint import CheckpointError
from sgt_probe.model import limits
from sgt_probe.model.limits import Fields, Sizes


@dataclass(frozen=True)
class Settings:
    """A model directory's settings: config.json and its image processor's."""

    config: Fields
    processor: Fields


# What transformers' Emu3 classes fall back to for a field config.json leaves out
# (Emu3TextConfig, Emu3VQVAEConfig, Emu3ImageProcessor; tests/test_hostile.py compares).
EMU3_TEXT = {"vocab_size": 184622, "hidden_size": 4096, "intermediate_size": 14336,
             "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
             "max_position_embeddings": 9216, "tie_word_embeddings": False}  # fmt: skip
EMU3_VQ = {"codebook_size": 32768, "embed_dim": 4, "latent_channels": 4, "in_channels": 3,
           "out_channels": 3, "temporal_downsample_factor": 4, "base_channels": 256,
           "channel_multiplier": [1, 2, 2, 4], "num_res_blocks": 2, "hidden_size": 1024,
           "num_attention_heads": 1}  # fmt: skip
EMU3_IMAGES = {"min_pixels": 512 * 512, "max_pixels": 1024 * 1024, "spatial_factor": 8}
EMU3_GROUPS = 32  # the VQ-VAE's group norms split every channel count into 32 groups
VISUAL = "<|visual token"  # Emu3's visual tokens: "<|visual token 000123|>" is code 123
PROMPT = 64  # tokens of an Emu3 prompt around its image block, at most (emu3_items layouts)


def _emu3(s: Settings) -> Sizes:
    text = s.config.section("text_config", EMU3_TEXT)
    vocab = text.integer("vocab_size", 1, limits.VOCAB)
    d, heads = text.heads("hidden_size", "num_attention_heads")
    kv = text.integer("num_key_value_heads", 1, heads)
    if heads % kv:
        text.fail("num_key_value_heads", f"{kv} does not divide num_attention_heads {heads}")
    ff = text.integer("intermediate_size", 1, limits.FF)
    layers = text.integer("num_hidden_layers", 1, limits.LAYERS)
    positions = text.integer("max_position_embeddings", 1, limits.POSITIONS)

    vq = s.config.section("vq_config", EMU3_VQ)
    codes = vq.integer("codebook_size", 2, limits.CODES)
    embed = vq.integer("embed_dim", 1, limits.WIDTH)
    latent = vq.integer("latent_channels", 1, limits.WIDTH)
    for key in ("in_channels", "out_channels"):
        vq.integer(key, 1, 16)
    res = vq.integer("num_res_blocks", 1, 16)
    temporal = vq.integer("temporal_downsample_factor", 1, 16)
    if temporal & (temporal - 1):
        vq.fail("temporal_downsample_factor", f"{temporal} is not a power of two")
    base = vq.integer("base_channels", 1, limits.WIDTH)
    mult = vq.integers("channel_multiplier", 1, 64, (1, 8))
    channels = [base * m for m in mult]
    if any(c % EMU3_GROUPS or c > limits.WIDTH for c in channels):
        vq.fail("base_channels", f"{base} times channel_multiplier {mult} must give channel "
                f"counts that are multiples of {EMU3_GROUPS} up to {limits.WIDTH}")  # fmt: skip
    # the middle block's attention reads the deepest level's channels as its width
    width = vq.integer("hidden_size", 1, limits.WIDTH)
    if width != channels[-1]:
        vq.fail("hidden_size", f"{width} but the VQ-VAE's deepest level has {channels[-1]} "
                "channels (base_channels x the last channel_multiplier)")  # fmt: skip
    if width % vq.integer("num_attention_heads", 1, limits.HEADS):
        vq.fail("num_attention_heads", f"does not divide hidden_size {width}")

    _emu3_vocabulary(s.config, vocab, codes)
    factor = 2 ** (len(mult) - 1)  # the VQ-VAE halves the image at every level but the last
    image_tokens = _emu3_images(s.processor, factor)
    if image_tokens + PROMPT > positions:
        s.processor.fail("min_pixels", f"makes a world image {image_tokens} tokens, more than "
                         f"text_config.max_position_embeddings {positions} with a prompt")  # fmt: skip

    head = d // heads
    attention = d * heads * head * 2 + d * kv * head * 2  # q and o, k and v
    layer = attention + 3 * d * ff + 2 * d  # the MLP's gate, up and down; two norms
    tied = text.get("tie_word_embeddings") is True or s.config.get("tie_word_embeddings") is True
    decoder = vocab * d * (1 if tied else 2) + layers * layer + d
    # the VQ-VAE: its codebook and its 3x3 convolutions, 9 c^2 weights each at a level of c
    # channels: two per residual block (num_res_blocks per level in the encoder, one more in
    # the decoder), a down- and an upsampling per level, four residual blocks in the middle
    # blocks, and their attention (within 10% of the built model: tests/test_hostile.py)
    convs = 36 * (res + 1) * sum(c * c for c in channels) + 72 * channels[-1] ** 2
    vqvae = codes * embed + convs + 8 * width * width + 2 * latent * channels[-1]
    return Sizes(decoder + vqvae, vocab, d, ff, layers, image_tokens + PROMPT)


def _emu3_vocabulary(config: Fields, vocab: int, codes: int) -> None:
    """The vocabulary map names a token id below vocab_size for every code of the codebook
    (the model sizes its code <-> token tables by the largest id), the image placeholder and
    the end-of-row token."""
    mapping = config.get("vocabulary_map")
    if not isinstance(mapping, dict) or len(mapping) > vocab:
        config.fail("vocabulary_map", f"must map at most text_config.vocab_size {vocab} token "
                    "names to ids")  # fmt: skip
    for name, i in mapping.items():
        if type(i) is not int or not 0 <= i < vocab:
            config.fail("vocabulary_map", f"maps {name!r} to {i!r}, not an id below "
                        f"text_config.vocab_size {vocab}")  # fmt: skip
    numbers = {name[-8:-2] for name in mapping if name.startswith(VISUAL)}
    if numbers != {f"{c:06d}" for c in range(codes)}:
        config.fail("vocabulary_map", f"names {len(numbers)} visual tokens, not one for each "
                    f"of vq_config.codebook_size {codes} codes")  # fmt: skip
    for token in ("<image>", "<|extra_200|>"):  # the placeholder, the end of a row
        if token not in mapping:
            config.fail("vocabulary_map", f"lacks {token!r}")


def _emu3_images(p: Fields, factor: int) -> int:
    """The image processor's pixel budget and normalisation; returns the tokens of the image
    block a world image (smaller than the budget's minimum) becomes."""
    lo = p.integer("min_pixels", 1, limits.PIXELS)
    hi = p.integer("max_pixels", lo, limits.PIXELS)
    size = p.section("size")
    if size.d:  # written beside the two fields; whichever the processor reads must be sane
        size.integer("min_pixels", 1, limits.PIXELS)
        size.integer("max_pixels", size.get("min_pixels"), limits.PIXELS)
    if p.integer("spatial_factor", 1, 1024) != factor:
        p.fail("spatial_factor", f"{p.get('spatial_factor')} but the VQ-VAE downsamples by "
               f"{factor} (2 ^ (levels - 1))")  # fmt: skip
    for key in ("image_mean", "image_std"):
        v = p.get(key)
        if v is not None and not (isinstance(v, list) and len(v) == 3 and all(
                type(x) in (int, float) and math.isfinite(x) for x in v)):  # fmt: skip
            p.fail(key, f"must be three finite numbers, got {v!r}")
    if p.get("image_std") is not None and min(p.get("image_std")) <= 0:
        p.fail("image_std", "must be positive")
    if p.get("rescale_factor") is not None:
        p.number("rescale_factor", 0, open_lo=True)
    side = math.ceil(math.sqrt(min(lo, hi)) / factor)  # the processor's resize, in tokens
    return side * (side + 1) + 4  # each row closed by an end-of-row token; the block's marks


@dataclass(frozen=True)
class Architecture:
    check: Callable[[Settings], Sizes]  # checks the settings; returns the model's sizes
    image_defaults: dict  # what its image processor falls back to for a field left out


ARCHITECTURES = {"emu3": Architecture(_emu3, EMU3_IMAGES)}


def check_settings(path: Path, config: dict, processor_file: Path, processor: dict) -> Sizes:
    """The sizes of the model directory `path` of a supported type, after its rule has checked
    its settings and its weights' memory has been checked against this machine's; otherwise
    CheckpointError (one line naming the file and the field)."""
    arch = ARCHITECTURES.get(config.get("model_type"))
    if arch is None:
        raise CheckpointError(f"{path}: model type {config.get('model_type')!r} has no checks "
                              "of its settings")  # fmt: skip
    name = "image_processor" if processor_file.name == "processor_config.json" else ""
    sizes = arch.check(Settings(Fields(path / "config.json", "", config),
                                Fields(processor_file, name, processor, arch.image_defaults)))  # fmt: skip
    limits.check_weights(path, sizes)
    return sizes
