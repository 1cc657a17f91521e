"""Proxy tasks as images: what the model reads and what it must generate, and readers back.

Every target is an RGB image, tokenized by the same VQ tokenizer as any image, so every proxy
is generative (low level: reconstruction, inpainting; mid level: depth, edge; high level:
segmentation). The readers invert the renderings exactly, and tolerate the color noise a VQ
round trip adds by taking the nearest rendered value.
"""

from __future__ import annotations

import numpy as np

from .render import OBJECT_COLORS
from .scene import Scene

PROXIES = ("segmentation", "depth", "edge", "reconstruction", "inpainting", "none")

DEPTH_LEVELS = np.array([0, 64, 128, 192, 255], dtype=np.uint8)  # [rank]: background darkest
EDGE_LEVEL = 255
INPAINT_FILL = 128  # the flat mid-gray of a masked patch
INPAINT_SHARE = 0.25  # share of patches masked
INPAINT_PATCH = 4
_INPAINT_STREAM = 0x1A9A  # keeps inpaint masks apart from the worlds' random streams


def _segmentation_palette() -> np.ndarray:
    """uint8 [K, 3]: class 0 black, then colors far from each other and from object colors.

    Candidates are the 4-level RGB grid minus colors near an object color (so a segmentation
    map cannot be produced by copying object colors); they are ordered farthest-point first, so
    the few classes of a small world get the most distinct colors.
    """
    levels = np.array([0, 85, 170, 255])
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    objects = np.array(list(OBJECT_COLORS.values()))
    near_object = np.linalg.norm(grid[:, None] - objects[None], axis=-1).min(1) < 80
    candidates = grid[~near_object]
    chosen = [candidates[0]]  # black: grid order starts at (0, 0, 0)
    nearest = np.linalg.norm(candidates - chosen[0], axis=1)  # [K], distance to chosen set
    while len(chosen) < len(candidates):
        pick = int(np.argmax(nearest))
        chosen.append(candidates[pick])
        nearest = np.minimum(nearest, np.linalg.norm(candidates - candidates[pick], axis=1))
    return np.array(chosen, dtype=np.uint8)


SEG_PALETTE = _segmentation_palette()


def _gray(levels: np.ndarray) -> np.ndarray:
    return np.repeat(levels.astype(np.uint8)[..., None], 3, axis=-1)  # [H, W] -> [H, W, 3]


def inpaint_mask(index: int, image_size: int, patch: int = INPAINT_PATCH) -> np.ndarray:
    """bool [grid, grid], grid = image_size // patch: the masked patches of scene `index`."""
    grid = image_size // patch
    n_masked = round(INPAINT_SHARE * grid * grid)
    rng = np.random.default_rng([_INPAINT_STREAM, index])
    mask = np.zeros(grid * grid, dtype=bool)
    mask[rng.choice(grid * grid, n_masked, replace=False)] = True
    return mask.reshape(grid, grid)


def render_proxy(scene: Scene, proxy: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(input image, target image), both uint8 [H, W, 3], for one proxy task on one scene."""
    image = scene.image
    if proxy == "segmentation":
        if n_classes > len(SEG_PALETTE):
            raise ValueError(
                f"segmentation palette has {len(SEG_PALETTE)} colors, need {n_classes}"
            )
        if scene.segmentation.max() >= n_classes:
            raise ValueError(
                f"scene {scene.index} has class {scene.segmentation.max()} >= {n_classes}"
            )
        return image.copy(), SEG_PALETTE[scene.segmentation]
    if proxy == "depth":
        if scene.depth.max() >= len(DEPTH_LEVELS):
            raise ValueError(f"depth rank {scene.depth.max()} has no gray level")
        return image.copy(), _gray(DEPTH_LEVELS[scene.depth])
    if proxy == "edge":
        return image.copy(), _gray(scene.edges * EDGE_LEVEL)
    if proxy == "reconstruction":
        return image.copy(), image.copy()
    if proxy == "inpainting":
        patches = inpaint_mask(scene.index, image.shape[0])  # [grid, grid]
        square = np.ones((INPAINT_PATCH, INPAINT_PATCH), dtype=bool)
        hidden = np.kron(patches, square)  # [grid, grid] -> [H, W]
        masked = image.copy()
        masked[hidden] = INPAINT_FILL
        return masked, image.copy()
    if proxy == "none":
        raise ValueError("proxy 'none' has no images: it means no proxy tuning")
    raise ValueError(f"unknown proxy {proxy!r}; choose one of {', '.join(PROXIES)}")


def _nearest(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """int [...]: index of the nearest level for each value (values [..., C], levels [K, C])."""
    diff = values[..., None, :].astype(np.float64) - levels  # [..., K, C]
    return np.argmin((diff**2).sum(-1), axis=-1)


def read_segmentation(img: np.ndarray, n_classes: int) -> np.ndarray:
    """int [H, W]: class id of the nearest palette color."""
    return _nearest(img, SEG_PALETTE[:n_classes])


def read_depth(img: np.ndarray) -> np.ndarray:
    """int [H, W]: depth rank of the nearest gray level (0 = background)."""
    return _nearest(img.mean(-1, keepdims=True), DEPTH_LEVELS[:, None])


def read_edges(img: np.ndarray) -> np.ndarray:
    """bool [H, W]: pixels brighter than mid-gray."""
    return img.mean(-1) > EDGE_LEVEL / 2
