"""Ground-truth labels per image patch (for probes, embeddings and grounded attention)."""

from __future__ import annotations

import numpy as np

from sgt_probe.data.scene import Scene


def _patches(maps: np.ndarray, p: int) -> np.ndarray:
    """[N, H, W] -> [N, P, p*p], patches row-major (the model's image-token order)."""
    n, h, w = maps.shape
    g = h // p
    return maps.reshape(n, g, p, g, p).transpose(0, 1, 3, 2, 4).reshape(n, g * g, p * p)


def _majority(maps: np.ndarray, p: int) -> np.ndarray:
    x = _patches(maps.astype(np.int64), p)  # [N, P, p*p]
    n_values = int(x.max()) + 1
    counts = (x[..., None] == np.arange(n_values)).sum(axis=2)  # [N, P, n_values]
    return counts.argmax(-1)  # ties go to the smaller value (background first)


def patch_labels(scenes: list[Scene], patch: int, colors: list[str]) -> dict[str, np.ndarray]:
    """Majority label of each patch, int64 [N, P] per key.

    class: semantic class (0 background); instance: instance id; depth: depth rank (0
    background); color: 1 + index of the majority object's color in `colors` (0 background).
    """
    seg = _majority(np.stack([s.segmentation for s in scenes]), patch)
    inst = _majority(np.stack([s.instances for s in scenes]), patch)
    depth = _majority(np.stack([s.depth for s in scenes]), patch)
    color = np.zeros_like(inst)
    for i, s in enumerate(scenes):
        for o in s.objects:
            if o.color in colors:
                color[i][inst[i] == o.instance_id] = colors.index(o.color) + 1
    return {"class": seg, "instance": inst, "depth": depth, "color": color}


def object_patches(scene: Scene, instance_id: int, patch: int) -> np.ndarray:
    """bool [P]: patches holding any visible pixel of the instance (its ground-truth mask)."""
    m = _patches((scene.instances == instance_id)[None].astype(np.int64), patch)[0]
    return m.any(-1)
