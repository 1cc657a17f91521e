"""The embeddings suite: UMAP layouts of image-token residuals at the middle and the last layer,
for the dashboard's scatter and the UMAP figure."""

from __future__ import annotations

import numpy as np

from sgt_probe.compare.inputs import Inputs
from sgt_probe.report.format import EMBED_IMAGES, key_embed_meta, key_embedding
from sgt_probe.report.schema import EMBED_COLOR_BY, Embeddings

NAME = "embeddings"


def run(inputs: Inputs, arrays: dict[str, np.ndarray]) -> Embeddings:
    """Each fit costs about a second, so a study comparing many checkpoints embeds only those
    its figures show (`CompareConfig.embed`)."""
    from sgt_probe.probes.embedding import umap_layout  # imports umap: only when embedding

    cfg, items = inputs.cfg, inputs.probe
    m = min(cfg.n_embed_scenes, len(items.data))
    layers = sorted({inputs.n_layers // 2, inputs.n_layers - 1})
    n_patch = items.labels["class"].shape[1]
    rows = np.arange(m * n_patch)  # the first m scenes' patches: rows are image-major
    embedded = [n for n in inputs.names if not cfg.embed or n in cfg.embed]
    for name in embedded:
        for layer in layers:
            # 200 epochs instead of 500: the layout of ~1.5k points is settled by then.
            xy = umap_layout(inputs.residuals(name)[layer, rows], cfg.seed, n_epochs=200)
            arrays[key_embedding(name, layer)] = xy
    labels = items.labels
    arrays[key_embed_meta("class")] = labels["class"][:m].reshape(-1).astype(np.int16)
    arrays[key_embed_meta("color")] = (labels["color"][:m].reshape(-1) - 1).astype(np.int16)
    arrays[key_embed_meta("depth")] = labels["depth"][:m].reshape(-1).astype(np.int16)
    arrays[key_embed_meta("sample")] = np.repeat(np.arange(m), n_patch).astype(np.int32)
    arrays[key_embed_meta("patch")] = np.tile(np.arange(n_patch), m).astype(np.int16)
    arrays[EMBED_IMAGES.key] = np.stack([s.image for s in items.data.scenes[:m]])
    world = inputs.world
    return Embeddings(layers=layers, names=embedded, color_by=list(EMBED_COLOR_BY),
                      labels={"class": list(world.class_names), "color": list(world.colors)})  # fmt: skip
