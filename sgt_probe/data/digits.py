"""Real handwriting: scikit-learn's bundled UCI digits (8x8, values 0..16), upscaled, tinted
with the object palette and composited on the textured background; digit = segmentation class.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .world import GeneratedWorld

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
STROKE_THRESHOLD = 6.0  # on the 0..16 ink scale: pixels above it are digit pixels


@cache
def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """(images float [N, 8, 8] in 0..16, labels int [N]) from the copy shipped in scikit-learn."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images, digits.target


@cache  # few distinct sizes occur; callers must not modify the result
def bilinear_matrix(n_out: int, n_in: int) -> np.ndarray:
    """float [n_out, n_in]: W @ v resamples v bilinearly (pixel-centre aligned, edges clamped)."""
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = np.zeros((n_out, n_in))
    np.add.at(w, (np.arange(n_out), lo), 1 - (src - lo))
    np.add.at(w, (np.arange(n_out), hi), src - lo)
    return w


def digit_strokes(sample: int, side: int) -> np.ndarray:
    """bool [side, side]: the stroke pixels of digit image `sample` upscaled to side x side."""
    image = load_digit_images()[0][sample]
    w = bilinear_matrix(side, image.shape[0])
    return w @ image @ w.T > STROKE_THRESHOLD


class DigitsWorld(GeneratedWorld):
    n_objects = (2, 3)
    box_footprint = True  # digits may touch, but never interleave
    shape_words = DIGIT_WORDS
    # digit box side as a fraction of the image side, before perspective: 13-15 px at 32 px, so
    # the strokes survive VQ tokenization (at 10-11 px the judge read 0.24-0.50 of VQ-decoded
    # ground truth per prompt family with a k-means codebook, 0.34-0.78 at this size)
    SIDE = (0.40, 0.46)

    def __init__(self, spec):
        super().__init__(spec)
        labels = load_digit_images()[1]
        self._samples = [np.flatnonzero(labels == d) for d in range(len(DIGIT_WORDS))]

    def _object_mask(self, rng: np.random.Generator, shape: int, scale: float) -> np.ndarray:
        size = self.image_size
        side = int(round(size * rng.uniform(*self.SIDE) * scale))
        sample = int(rng.choice(self._samples[shape]))
        y0, x0 = rng.integers(0, size - side + 1, 2)
        mask = np.zeros((size, size), dtype=bool)
        mask[y0 : y0 + side, x0 : x0 + side] = digit_strokes(sample, side)
        return mask
