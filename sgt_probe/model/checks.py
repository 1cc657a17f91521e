"""Check what a checkpoint holds before anything is built from it.

A checkpoint may come from anywhere. Every config value gets its type and range checked (the
ranges and field checks of `model/limits.py`, which Hugging Face model directories go through
too), and the model its config describes must have exactly the tensors of its state dict, name
for name and shape for shape, every value finite, before a model is allocated: a crafted
`n_layers` of a million is refused, not built. Sizes no tensor bounds (the data spec's image
size, the tokenizer's codebook, the vocabulary) must agree with the model. Each problem is one CheckpointError line naming the file
and the field. Only torch, the configs and the vocabulary are imported: a bad file is refused
without loading transformers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from sgt_probe.checkpoint import CheckpointError
from sgt_probe.data.proxies import PROXIES
from sgt_probe.data.spec import WORLDS, DataSpec
from sgt_probe.model import limits
from sgt_probe.model.config import (
    PRESETS,
    SCHEDULES,
    TOKENIZERS,
    VISION_INPUTS,
    ModelConfig,
    TrainConfig,
)
from sgt_probe.model.limits import SEED_MAX, Fields
from sgt_probe.model.vocab import SPECIALS, TASKS, Vocab

STAGES = ("base", "tune")
LAYER = re.compile(r"lm\.model\.layers\.(\d+)\.")


@dataclass(frozen=True)
class Contents:
    """The parts of a checked checkpoint that describe the model and its data."""

    cfg: ModelConfig
    vocab: Vocab
    spec: DataSpec


def _model_config(path: Path, d) -> ModelConfig:
    s = Fields.of(path, "model_config", d, ModelConfig)
    d_model, n_heads = s.heads("d_model", "n_heads")
    patch = s.integer("patch_size", 1, limits.IMAGE_SIDE)
    image_size = s.integer("image_size", patch, limits.IMAGE_SIDE)
    if image_size % patch:
        s.fail("image_size", f"{image_size} is not a multiple of patch_size {patch}")
    return ModelConfig(
        preset=s.choice("preset", list(PRESETS)),
        d_model=d_model,
        n_layers=s.integer("n_layers", 1, limits.LAYERS),
        n_heads=n_heads,
        d_ff=s.integer("d_ff", 1, limits.FF),
        vision_input=s.choice("vision_input", VISION_INPUTS),
        image_size=image_size,
        patch_size=patch,
        n_codes=s.integer("n_codes", 2, limits.CODES),
        tokenizer=s.choice("tokenizer", TOKENIZERS),
        tokenizer_scene_repeat=s.integer("tokenizer_scene_repeat", 1),
        max_len=s.integer("max_len", 1, limits.POSITIONS),
        vocab_size=s.integer("vocab_size", 1, limits.VOCAB),
    )


def _train_config(path: Path, d) -> None:
    s = Fields.of(path, "train_config", d, TrainConfig)
    for key in ("steps", "batch_size", "n_scenes", "ckpt_every", "log_every"):
        s.integer(key, 1)
    for key in ("warmup", "proxy_scenes", "few_label_scenes"):
        s.integer(key, 0)
    s.integer("seed", 0, SEED_MAX)
    s.number("lr", 0, open_lo=True)
    s.number("grad_clip", 0, open_lo=True)
    s.number("weight_decay", 0)
    for key in ("min_lr_ratio", "proxy_ratio", "prompt_dropout", "few_label_share"):
        s.number(key, 0, 1)
    for key in (
        "understanding_share",
        "caption_share",
        "generation_share",
        "understanding_weight",
        "caption_weight",
        "generation_weight",
        "proxy_weight",
    ):
        s.number(key, 0)
    s.choice("proxy", PROXIES, optional=True)
    s.choice("schedule", SCHEDULES)


def _data_spec(path: Path, d, cfg: ModelConfig) -> DataSpec:
    s = Fields.of(path, "data_spec", d, DataSpec)
    world = s.choice("world", WORLDS)
    seed = s.integer("seed", 0, SEED_MAX)
    if s.integer("image_size", 16) != cfg.image_size:
        s.fail("image_size", f"{s.get('image_size')} but the model reads {cfg.image_size}px images")
    folder = s.get("path")
    if not (folder is None or isinstance(folder, str)):
        s.fail("path", f"must be a string, got {folder!r}")
    fraction = s.number("eval_fraction", 0, 1, open_lo=True)
    try:
        return DataSpec(world, seed, cfg.image_size, folder, fraction)
    except ValueError as e:  # what DataSpec itself refuses (a folder world without a path, ...)
        raise CheckpointError(f"{path}: data_spec: {e}") from None


def _vocab(path: Path, d, cfg: ModelConfig) -> Vocab:
    s = Fields.of(path, "vocab", d, Vocab)
    tokens = s.get("tokens")
    if not (isinstance(tokens, list) and all(isinstance(t, str) for t in tokens)):
        s.fail("tokens", "must be a list of strings")
    if s.integer("n_codes", 2) != cfg.n_codes:
        s.fail("n_codes", f"{s.get('n_codes')} but model_config.n_codes is {cfg.n_codes}")
    if len(tokens) != cfg.vocab_size:
        s.fail("tokens", f"holds {len(tokens)} tokens but model_config.vocab_size is "
               f"{cfg.vocab_size}")  # fmt: skip
    # the layout `Vocab.build` writes: specials, task tokens, words, then the code block
    head = (*SPECIALS, *TASKS.values())
    codes = tuple(f"<c{i}>" for i in range(cfg.n_codes))
    if tuple(tokens[: len(head)]) != head or tuple(tokens[len(tokens) - cfg.n_codes :]) != codes:
        s.fail("tokens", "do not start with the special and task tokens and end with the codes")
    if len(set(tokens)) != len(tokens):
        s.fail("tokens", "hold a token twice")
    return Vocab(tuple(tokens), cfg.n_codes)


def _tokenizer(path: Path, d, cfg: ModelConfig) -> None:
    s = Fields(path, "tokenizer", d)
    kind = s.choice("kind", TOKENIZERS, optional=True) or "kmeans"  # older checkpoints: k-means
    if kind != cfg.tokenizer:
        s.fail("kind", f"{kind} but model_config.tokenizer is {cfg.tokenizer}")
    for key in ("n_codes", "patch_size"):  # the model reads and writes its codes
        if s.integer(key, 1) != getattr(cfg, key):
            s.fail(key, f"{d[key]} but model_config.{key} is {getattr(cfg, key)}")
    s.integer("seed", 0, SEED_MAX)
    if kind == "vqvae":
        _vqvae_weights(s, d)
        return
    book = d.get("codebook")
    want = (cfg.n_codes, cfg.patch_size**2 * 3)
    if not (isinstance(book, torch.Tensor) and book.is_floating_point()):
        s.fail("codebook", "must be a float tensor")
    if tuple(book.shape) != want:
        s.fail("codebook", f"has shape {tuple(book.shape)}, expected {want}")
    if not bool(((book >= 0) & (book <= 1)).all()):  # also false for NaN
        s.fail("codebook", "holds values outside 0..1")


def _vqvae_weights(s: Fields, d: dict) -> None:
    """The VQ-VAE's sizes are bounded, then its weights must be exactly the tensors a net of
    those sizes holds (their shapes come from a net built on the meta device: no memory)."""
    from sgt_probe.tokenizer.vqvae import VQVAETokenizer

    sizes = {k: s.integer(k, 1, 4096) for k in ("channels", "code_dim")}
    if d["patch_size"] & (d["patch_size"] - 1) or d["patch_size"] < 2:
        s.fail("patch_size", f"{d['patch_size']} is not a power of two >= 2, as a VQ-VAE needs")
    want = VQVAETokenizer(n_codes=d["n_codes"], patch_size=d["patch_size"], **sizes).weight_shapes()
    weights = d.get("weights")
    if not isinstance(weights, dict) or set(weights) != set(want):
        s.fail("weights", "must hold exactly the VQ-VAE's tensors")
    for name, shape in want.items():
        t = weights[name]
        if not (isinstance(t, torch.Tensor) and t.is_floating_point() and tuple(t.shape) == shape):
            s.fail("weights", f"{name} must be a float tensor of shape {shape}")
        if not bool(torch.isfinite(t).all()):
            s.fail("weights", f"{name} holds non-finite values")


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The state dict of `UnifiedModel(cfg)`: tensor name -> shape, computed without building
    the model (tests/test_checkpoint_contents.py checks it against built ones)."""
    d, ff, v = cfg.d_model, cfg.d_ff, cfg.vocab_size
    layer = {
        **{f"self_attn.{p}_proj.weight": (d, d) for p in "qkvo"},
        "mlp.gate_proj.weight": (ff, d),
        "mlp.up_proj.weight": (ff, d),
        "mlp.down_proj.weight": (d, ff),
        "input_layernorm.weight": (d,),
        "post_attention_layernorm.weight": (d,),
    }
    shapes = {"lm.model.embed_tokens.weight": (v, d)}
    for i in range(cfg.n_layers):
        shapes.update({f"lm.model.layers.{i}.{k}": shape for k, shape in layer.items()})
    return shapes | {
        "lm.model.norm.weight": (d,),
        "lm.lm_head.weight": (v, d),
        "patch_encoder.pos": (cfg.n_patches, d),
        "patch_encoder.proj.weight": (d, cfg.patch_size**2 * 3),
        "patch_encoder.proj.bias": (d,),
    }


def sizes(cfg: ModelConfig) -> limits.Sizes:
    """What the memory of `UnifiedModel(cfg)` and of training it depends on."""
    n_params = sum(math.prod(shape) for shape in param_shapes(cfg).values())
    return limits.Sizes(n_params, cfg.vocab_size, cfg.d_model, cfg.d_ff, cfg.n_layers,
                        cfg.max_len)  # fmt: skip


def _state_dict(path: Path, sd, cfg: ModelConfig) -> None:
    if not (
        isinstance(sd, dict)
        and all(isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in sd.items())
    ):
        raise CheckpointError(f"{path}: state_dict must map names to tensors")
    # the layer count first: it bounds the size of the shape table built next
    layers = {m.group(1) for k in sd if (m := LAYER.match(k))}
    if cfg.n_layers != len(layers):
        raise CheckpointError(
            f"{path}: model_config.n_layers is {cfg.n_layers} but the state dict holds "
            f"{len(layers)} layers"
        )
    want = param_shapes(cfg)
    missing, extra = [k for k in want if k not in sd], [k for k in sd if k not in want]
    if missing or extra:
        what = f"lacks {missing[0]}" if missing else f"holds an unknown tensor {extra[0]}"
        n = len(missing) + len(extra)
        raise CheckpointError(f"{path}: state_dict {what} ({n} names differ from model_config)")
    for k, shape in want.items():
        if tuple(sd[k].shape) != shape or not sd[k].is_floating_point():
            got = f"{sd[k].dtype} {tuple(sd[k].shape)}"
            raise CheckpointError(
                f"{path}: state_dict[{k!r}] is {got}, but model_config describes a float "
                f"tensor of shape {shape}"
            )
    bad = limits.first_nonfinite((k, sd[k]) for k in want)
    if bad is not None:  # a model with them would score, or train, on garbage
        raise CheckpointError(f"{path}: state_dict[{bad!r}] holds non-finite values (inf or NaN)")
    limits.check_weights(path, sizes(cfg))


def _run_state(path: Path, ckpt: dict) -> None:
    """What only `--resume` reads: stage, step, history, optimizer and RNG state."""
    if ckpt.get("stage") not in STAGES:
        raise CheckpointError(f"{path}: stage must be one of {', '.join(STAGES)}, "
                              f"got {ckpt.get('stage')!r}")  # fmt: skip
    if ckpt.get("proxy") is not None and ckpt["proxy"] not in PROXIES:
        raise CheckpointError(f"{path}: proxy {ckpt['proxy']!r} is not one of {', '.join(PROXIES)}")
    step = ckpt["step"]
    if type(step) is not int or step < 0:
        raise CheckpointError(f"{path}: step must be an integer >= 0, got {step!r}")
    history = ckpt["history"]
    if not (isinstance(history, list) and all(isinstance(r, dict) for r in history)):
        raise CheckpointError(f"{path}: history must be a list of dicts")
    opt = ckpt.get("optimizer")
    if opt is not None and not (
        isinstance(opt, dict)
        and isinstance(opt.get("state"), dict)
        and isinstance(opt.get("param_groups"), list)
    ):
        raise CheckpointError(f"{path}: optimizer is not an optimizer state")
    rng = ckpt.get("rng")
    if rng is not None and not (
        isinstance(rng, torch.Tensor)
        and rng.dtype == torch.uint8
        and rng.shape == torch.get_rng_state().shape
    ):
        raise CheckpointError(f"{path}: rng is not a CPU random-generator state")


def check_contents(path: str | Path, ckpt: dict) -> Contents:
    """Check a loaded checkpoint (`load_checkpoint`'s dict) before anything is built from it;
    return its model config, vocabulary and data spec. Raises CheckpointError (one line)."""
    path = Path(path)
    cfg = _model_config(path, ckpt["model_config"])
    _state_dict(path, ckpt["state_dict"], cfg)
    vocab = _vocab(path, ckpt["vocab"], cfg)
    _tokenizer(path, ckpt["tokenizer"], cfg)
    spec = _data_spec(path, ckpt["data_spec"], cfg)
    _train_config(path, ckpt["train_config"])
    _run_state(path, ckpt)
    return Contents(cfg, vocab, spec)
