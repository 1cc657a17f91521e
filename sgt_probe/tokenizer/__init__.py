"""Visual tokenizer: every image the model reads or writes becomes VQ codes.

Two kinds with one interface: "kmeans" (`vq.py`, a codebook of patches, fitted in seconds:
tests and the tiny preset) and "vqvae" (`vqvae.py`, a learned encoder/decoder, minutes to fit:
what the generation judge can read).

tok = fit_tokenizer(world)           # codebook over scenes and every proxy map
codes = tok.encode(images)           # uint8 [N, S, S, 3] -> int64 [N, P]
images = tok.decode(codes, S)        # and back
tokenizer_report(tok, world)         # PSNR (dB) per image kind, on scenes not fitted on
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sgt_probe.data import Scene, World
from sgt_probe.data.proxies import render_proxy

from .vq import VQTokenizer, patchify, psnr, unpatchify
from .vqvae import VQVAETokenizer

KINDS = {"kmeans": VQTokenizer, "vqvae": VQVAETokenizer}
# Scenes a tokenizer is fitted on by default (each gives one image of every kind): k-means
# converges on few; the VQ-VAE's decoder needs varied layouts to draw edges anywhere.
FIT_SCENES = {"kmeans": 512, "vqvae": 4000}
Tokenizer = VQTokenizer | VQVAETokenizer

# Image kind -> (proxy, which image of render_proxy's (input, target) pair). Together they are
# every image the model reads or writes: scenes (also the reconstruction and inpainting
# targets), the three proxy maps it generates, and the masked inpainting input it reads.
IMAGE_KINDS = {
    "scene": ("reconstruction", 1),
    "segmentation": ("segmentation", 1),
    "depth": ("depth", 1),
    "edge": ("edge", 1),
    "inpainting_input": ("inpainting", 0),
}


def kind_images(world: World, scenes: list[Scene], kind: str) -> np.ndarray:
    """uint8 [N, S, S, 3]: the `kind` image of each scene."""
    proxy, which = IMAGE_KINDS[kind]
    n_classes = len(world.class_names)
    return np.stack([render_proxy(s, proxy, n_classes)[which] for s in scenes])


def fit_images(world: World, indices: Sequence[int], kinds: Sequence[str] = tuple(IMAGE_KINDS)
               ) -> np.ndarray:  # fmt: skip
    """uint8 [len(kinds) * N, S, S, 3]: the `kinds` images of the scenes `indices`, what a
    tokenizer is fitted on; a kind named twice is drawn twice as often (rendered once)."""
    scenes = [world.scene(i) for i in indices]
    rendered = {k: kind_images(world, scenes, k) for k in dict.fromkeys(kinds)}
    return np.concatenate([rendered[k] for k in kinds])


def fit_tokenizer(
    world: World,
    n_scenes: int | None = None,
    n_codes: int = 256,
    seed: int = 0,
    patch_size: int = 4,
    indices: Sequence[int] | None = None,
    kind: str = "kmeans",
    scene_repeat: int = 1,
) -> Tokenizer:
    """A tokenizer fitted on the scenes `indices` (default: the first n_scenes of the world's
    "train" split, as training uses; FIT_SCENES[kind] when not given) and every image kind
    rendered from them, scenes drawn `scene_repeat` times as often as each map."""
    if kind not in KINDS:
        raise ValueError(f"unknown tokenizer {kind!r}; choose one of {', '.join(KINDS)}")
    if indices is None:
        indices = world.split("train")[: n_scenes or FIT_SCENES[kind]]
    maps = [k for k in IMAGE_KINDS if k != "scene"]
    images = fit_images(world, indices, ["scene"] * scene_repeat + maps)
    return KINDS[kind](n_codes=n_codes, patch_size=patch_size, seed=seed).fit(images)


def tokenizer_from_state(d: dict) -> Tokenizer:
    """The tokenizer a checkpoint holds (checkpoints from before the kinds are k-means)."""
    return KINDS[d.get("kind", "kmeans")].from_state_dict(d)


def tokenizer_report(tok: Tokenizer, world: World, n: int = 128) -> dict[str, float]:
    """Round-trip PSNR (dB) per image kind on the first n scenes of the world's "eval" split,
    which `fit_tokenizer` never sees."""
    scenes = [world.scene(i) for i in world.split("eval")[:n]]
    report = {}
    for kind in IMAGE_KINDS:
        images = kind_images(world, scenes, kind)
        report[kind] = psnr(tok.decode(tok.encode(images), world.image_size), images)
    return report


__all__ = [
    "IMAGE_KINDS",
    "KINDS",
    "Tokenizer",
    "VQTokenizer",
    "VQVAETokenizer",
    "fit_images",
    "fit_tokenizer",
    "tokenizer_from_state",
    "kind_images",
    "patchify",
    "psnr",
    "tokenizer_report",
    "unpatchify",
]
