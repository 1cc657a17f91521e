"""The default world: flat-colored geometric shapes on a textured background."""

from __future__ import annotations

import numpy as np

from .render import pixel_grid
from .world import GeneratedWorld


# Each takes offsets from the centre (dy, dx: float [S, S]) and the half-extent r; all have a
# 2r x 2r box except the square, whose smaller box keeps its area close to the others'.
def _circle(dy, dx, r):
    return dy**2 + dx**2 <= r**2


def _square(dy, dx, r):
    return (np.abs(dy) <= 0.8 * r) & (np.abs(dx) <= 0.8 * r)


def _triangle(dy, dx, r):  # apex up, base at the bottom
    return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)


def _cross(dy, dx, r):
    arm = 0.35 * r
    inside = (np.abs(dy) <= r) & (np.abs(dx) <= r)
    return inside & ((np.abs(dy) <= arm) | (np.abs(dx) <= arm))


SHAPES = {"circle": _circle, "square": _square, "triangle": _triangle, "cross": _cross}


class ShapesWorld(GeneratedWorld):
    n_objects = (1, 4)
    # half-extent as a fraction of the image side, before perspective: objects 12-16 px across
    # at 32 px, 3-4 VQ patches, so a tokenizer can keep their silhouettes (at 7-10 px, two
    # patches, the judge misread 40% of VQ-decoded ground-truth shapes)
    RADIUS = (0.19, 0.25)

    shape_words = tuple(SHAPES)

    def __init__(self, spec):
        super().__init__(spec)
        self._grid = pixel_grid(self.image_size)

    def _object_mask(self, rng: np.random.Generator, shape: int, scale: float) -> np.ndarray:
        size = self.image_size
        r = size * rng.uniform(*self.RADIUS) * scale
        cy, cx = rng.uniform(r, size - r, 2)  # the whole object stays inside the image
        yy, xx = self._grid
        return SHAPES[self.shapes[shape]](yy - cy, xx - cx, r)
