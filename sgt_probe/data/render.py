"""Drawing helpers shared by the worlds: backgrounds, compositing and the maps derived from it.

Everything works on whole arrays (one numpy op per object), never per pixel.
"""

from __future__ import annotations

import numpy as np

# Object colors of the generated worlds: saturated, with well separated hues, so objects stay
# separable from the grayish background and from each other by color alone.
OBJECT_COLORS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 80, 230),
    "yellow": (235, 215, 40),
    "magenta": (210, 50, 200),
    "cyan": (40, 200, 210),
    "orange": (245, 135, 20),
}


def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates of the pixel centres, each float [size, size]."""
    centres = np.arange(size, dtype=np.float64) + 0.5
    return np.meshgrid(centres, centres, indexing="ij")


def textured_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A low-saturation grayish texture (noise, stripes or checker), uint8 [size, size, 3].

    The texture gives pixel-level proxies (reconstruction, inpainting) something to spend
    capacity on; keeping it nearly gray keeps the saturated objects separable by color.
    """
    yy, xx = pixel_grid(size)
    kind = rng.integers(3)
    if kind == 0:
        pattern = rng.normal(0.0, 1.0, (size, size))
    elif kind == 1:
        theta, phase = rng.uniform(0.0, np.pi), rng.uniform(0.0, 2 * np.pi)
        period = rng.uniform(3.0, 8.0)
        pattern = np.sin(2 * np.pi * (yy * np.cos(theta) + xx * np.sin(theta)) / period + phase)
    else:
        cell = int(rng.integers(2, 6))
        pattern = ((yy // cell + xx // cell) % 2) * 2.0 - 1.0
    gray = rng.uniform(70.0, 170.0)
    amplitude = rng.uniform(10.0, 25.0)
    tint = rng.uniform(-10.0, 10.0, 3)
    image = gray + tint + amplitude * pattern[..., None] + rng.normal(0.0, 4.0, (size, size, 3))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def composite(
    background: np.ndarray, masks: list[np.ndarray], colors: np.ndarray, ids: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Paint flat-colored masks back to front; returns (image uint8 [H,W,3], instances [H,W]).

    `ids[i]` is the instance id written where mask i is the nearest painted mask.
    """
    image = background.copy()
    instances = np.zeros(background.shape[:2], dtype=np.int64)
    for mask, color, instance_id in zip(masks, colors, ids, strict=True):
        image[mask] = color
        instances[mask] = instance_id
    return image, instances


def instance_edges(instances: np.ndarray) -> np.ndarray:
    """bool [H, W]: pixels whose right or lower 4-neighbour has a different instance value.

    Marking one side of each boundary keeps edges one pixel thick.
    """
    edges = np.zeros(instances.shape, dtype=bool)
    edges[:, :-1] |= instances[:, :-1] != instances[:, 1:]
    edges[:-1, :] |= instances[:-1, :] != instances[1:, :]
    return edges


def mask_geometry(mask: np.ndarray) -> tuple[tuple[int, int, int, int], tuple[float, float]]:
    """(bbox (y0, x0, y1, x1) end-exclusive, centroid (y, x) in pixel-index units) of a mask."""
    rows, cols = np.nonzero(mask)
    bbox = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
    return bbox, (float(rows.mean()), float(cols.mean()))


def box_mask(bbox: tuple[int, int, int, int], size: int) -> np.ndarray:
    """bool [size, size], True inside bbox."""
    y0, x0, y1, x1 = bbox
    mask = np.zeros((size, size), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask
