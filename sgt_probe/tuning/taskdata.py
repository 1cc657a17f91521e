"""Scenes rendered and tokenized once, and deterministic batches drawn from them.

A batch is a pure function of (seed, step): resuming a killed run and splitting the global batch
over DDP ranks both see exactly the items an uninterrupted single-process run would.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from sgt_probe.data.proxies import render_proxy
from sgt_probe.model.config import ModelConfig, TrainConfig
from sgt_probe.model.sequences import (
    Item,
    generation_item,
    patch_pixels,
    proxy_item,
    understanding_item,
)
from sgt_probe.model.vocab import Vocab


class TaskData:
    def __init__(self, world, tokenizer, vocab: Vocab, cfg: ModelConfig, indices, proxies=()):
        self.world, self.vocab, self.cfg, self.proxies = world, vocab, cfg, tuple(proxies)
        self.indices = list(indices)
        if not self.indices:
            raise ValueError("no scenes to build task data from (empty index range)")
        scenes = [
            world.scene(i)
            for i in tqdm(self.indices, desc="render scenes", leave=False, mininterval=1.0)
        ]
        self.scenes = scenes
        images = np.stack([s.image for s in scenes])  # [N, H, W, 3]
        self.codes = tokenizer.encode(images)  # [N, P]
        self.pixels = patch_pixels(images, cfg.patch_size)  # [N, P, p*p*3]
        self.proxy_input: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.proxy_target: dict[str, np.ndarray] = {}
        n_classes = len(world.class_names)
        for proxy in self.proxies:
            pairs = [render_proxy(s, proxy, n_classes) for s in scenes]
            inputs = np.stack([p[0] for p in pairs])
            targets = np.stack([p[1] for p in pairs])
            self.proxy_target[proxy] = tokenizer.encode(targets)
            if proxy == "inpainting":  # the only proxy whose input is not the scene image
                self.proxy_input[proxy] = (
                    tokenizer.encode(inputs),
                    patch_pixels(inputs, cfg.patch_size),
                )
            else:
                self.proxy_input[proxy] = (self.codes, self.pixels)

    def __len__(self) -> int:
        return len(self.scenes)

    def understanding(self, i: int, q: int) -> Item:
        qa = self.scenes[i].questions[q]
        return understanding_item(
            self.vocab, self.codes[i], self.pixels[i], qa.question, qa.answer,
            self.cfg.vision_input,
        )  # fmt: skip

    def generation(self, i: int, with_target: bool = True) -> Item:
        target = self.codes[i] if with_target else None
        return generation_item(self.vocab, self.scenes[i].prompt.text, target)

    def proxy(self, proxy: str, i: int, with_target: bool = True) -> Item:
        codes, pixels = self.proxy_input[proxy]
        target = self.proxy_target[proxy][i] if with_target else None
        return proxy_item(self.vocab, proxy, codes[i], pixels[i], target, self.cfg.vision_input)


def batch_items(data: TaskData, tcfg: TrainConfig, step: int) -> list[Item]:
    """The global batch of `step`: proxy items first, then base items (QA or generation)."""
    rng = np.random.default_rng([tcfg.seed, step])
    n_proxy = round(tcfg.batch_size * tcfg.proxy_ratio) if tcfg.proxy not in (None, "none") else 0
    items = []
    for k in range(tcfg.batch_size):
        i = int(rng.integers(len(data)))
        if k < n_proxy:
            items.append(data.proxy(tcfg.proxy, i))
        elif rng.random() < tcfg.understanding_ratio:
            items.append(data.understanding(i, int(rng.integers(len(data.scenes[i].questions)))))
        else:
            items.append(data.generation(i))
    return items
