"""The proxy-leak detector: does a generated scene look like a proxy's output?

A model tuned to draw segmentation (or depth, or edge) maps can carry them into scene
generation: a prompt gets a flat map on a black background instead of a scene, or palette
colours and flat regions inside one. The detector tells maps from scenes by pixel statistics
alone, independently of the model under test:

- palette: share of pixels near a segmentation-palette colour other than its black background
  (the palette is chosen far from every object colour, `data.proxies`);
- dark: share of near-black pixels (every map's background is black; scene backgrounds are a
  mid-gray texture);
- gray: share of pixels with no hue (depth and edge maps are gray; objects are saturated);
- object colour: share of pixels near an object colour (only scenes have objects);
- texture: mean absolute difference between neighbouring pixels (maps are flat regions, scene
  backgrounds are textured and noisy).

A logistic regression over these five is fitted on renders of training scenes (label 0) and
their segmentation, depth and edge maps (label 1), and, given the model's tokenizer, on their VQ
round trips too (what generated images look like at best). `validate` scores it the same way on
held-out eval scenes; its balanced accuracy goes into every report beside the leak rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sgt_probe.data import World
from sgt_probe.data.proxies import SEG_PALETTE, render_proxy
from sgt_probe.data.render import OBJECT_COLORS
from sgt_probe.tokenizer import Tokenizer

MAP_PROXIES = ("segmentation", "depth", "edge")  # the proxies whose targets are maps
NEAR = 48.0  # RGB distance within which a pixel counts as a palette (or object) colour
DARK = 40  # max channel value of a near-black pixel
GRAY = 12  # max channel spread of a gray pixel
# Scenes it is fitted on (training split) and validated on (eval split), each giving a scene and
# three maps (and their VQ round trips): the two kinds are far apart in every feature, so a few
# hundred images are plenty, and rendering and round-tripping them is most of the cost.
FIT_SCENES = 150
VALIDATE_SCENES = 100
FEATURES = ("palette", "dark", "gray", "object colour", "texture")


def _near(images: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """float [N]: share of each image's pixels within NEAR of any of `colors` [C, 3]."""
    x = images.astype(np.float32)[..., None, :] - colors.astype(np.float32)  # [N,H,W,C,3]
    return (np.sqrt((x**2).sum(-1)).min(-1) < NEAR).mean(axis=(1, 2))


def palette_share(images: np.ndarray, n_classes: int) -> np.ndarray:
    """float [N]: share of each uint8 [N, H, W, 3] image's pixels near a segmentation-palette
    colour of the world's classes, the black background left out."""
    return _near(images, SEG_PALETTE[1:n_classes])


def features(images: np.ndarray, n_classes: int) -> np.ndarray:
    """float [N, 5]: the FEATURES of each uint8 [N, H, W, 3] image."""
    x = images.astype(np.float32)
    spread = x.max(-1) - x.min(-1)  # [N, H, W]
    texture = (np.abs(np.diff(x, axis=1)).mean(axis=(1, 2, 3))
               + np.abs(np.diff(x, axis=2)).mean(axis=(1, 2, 3))) / 2  # fmt: skip
    return np.stack([
        palette_share(images, n_classes),
        (x.max(-1) < DARK).mean(axis=(1, 2)),
        (spread < GRAY).mean(axis=(1, 2)),
        _near(images, np.array(list(OBJECT_COLORS.values()))),
        texture,
    ], axis=1)  # fmt: skip


def labelled_set(world: World, split: str, n: int, tokenizer: Tokenizer | None = None) -> dict:
    """The detector's data on the first `n` scenes of `split`: each scene and its MAP_PROXIES
    targets, and their VQ round trips when `tokenizer` is given, as plain lists (the caller
    may keep them as JSON): "features" [N][5], "is_map" [N], "kind" [N] (scene or the proxy)."""
    n_classes = len(world.class_names)
    scenes = [world.scene(i) for i in world.split(split)[:n]]
    kinds = {"scene": np.stack([s.image for s in scenes])}
    for p in MAP_PROXIES:
        kinds[p] = np.stack([render_proxy(s, p, n_classes)[1] for s in scenes])
    images = np.concatenate(list(kinds.values()))
    kind = np.repeat(list(kinds), len(scenes))
    if tokenizer is not None:
        decoded = tokenizer.decode(tokenizer.encode(images), images.shape[1])
        images, kind = np.concatenate([images, decoded]), np.concatenate([kind, kind])
    return {"features": features(images, n_classes).tolist(), "is_map": (kind != "scene").tolist(),
            "kind": kind.tolist()}  # fmt: skip


@dataclass
class Validation:
    """The detector on held-out renders: balanced accuracy (the mean of its accuracy on scenes
    and on maps), and the share of each kind it calls a map."""

    accuracy: float
    called_map: dict[str, float]  # kind (scene, segmentation, depth, edge) -> share
    n: int  # images scored


class LeakDetector:
    """Calls an image a map (a proxy's output) or a scene: a logistic regression over its
    FEATURES, fitted on a `labelled_set`."""

    def __init__(self, n_classes: int, train: dict):
        self.n_classes = n_classes
        self.model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced"))
        self.model.fit(np.asarray(train["features"]), np.asarray(train["is_map"]))

    def is_map(self, images: np.ndarray) -> np.ndarray:
        """bool [N]: whether each uint8 [N, H, W, 3] image looks like a proxy map."""
        return self.model.predict(features(images, self.n_classes)).astype(bool)

    def validate(self, held_out: dict) -> Validation:
        """Scored on a `labelled_set` of scenes it was not fitted on."""
        called = self.model.predict(np.asarray(held_out["features"])).astype(bool)
        is_map, kind = np.asarray(held_out["is_map"]), np.asarray(held_out["kind"])
        accuracy = (np.mean(called[is_map]) + np.mean(~called[~is_map])) / 2
        shares = {k: float(called[kind == k].mean()) for k in dict.fromkeys(kind.tolist())}
        return Validation(float(accuracy), shares, len(called))
