"""Scenes rendered and tokenized, the task items built from them, and deterministic batches.

`TaskData` holds a fixed list of scenes (an evaluation set, or one training batch's scenes).
Training keeps no pre-rendered set: each step renders the scenes its batch draws from the
first `TrainConfig.n_scenes` of the world's train split (a million by default), because a few
thousand scenes were memorised rather than learned (questions on 3,000 scenes: train loss fell
while held-out answers stayed near their priors; on 50,000, held-out accuracy kept rising). A batch is a pure function of (seed, step): resuming a killed
run and splitting the global batch over DDP ranks both see exactly the items an uninterrupted
single-process run would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sgt_probe.data.proxies import render_proxy
from sgt_probe.data.scene import FEW_LABEL_FAMILIES
from sgt_probe.data.text import caption
from sgt_probe.model.config import ModelConfig, TrainConfig
from sgt_probe.model.sequences import (
    Item,
    caption_item,
    dialogue_item,
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
        self.scenes = scenes = [world.scene(i) for i in self.indices]
        images = np.stack([s.image for s in scenes])  # [N, H, W, 3]
        self.pixels = self.image_pixels(images)  # [N, P, p*p*3]
        n_classes = len(world.class_names)
        renders = {p: [render_proxy(s, p, n_classes) for s in scenes] for p in self.proxies}
        # inpainting is the only proxy whose input is not the scene image
        masked = (
            [np.stack([x for x, _ in renders["inpainting"]])] if "inpainting" in renders else []
        )
        # One encode call for every image of the set: scenes, proxy targets, inpainting inputs.
        batches = [images, *(np.stack([t for _, t in r]) for r in renders.values()), *masked]
        codes = np.split(tokenizer.encode(np.concatenate(batches)), len(batches))
        self.codes = codes[0]  # [N, P]
        self.proxy_target = dict(zip(renders, codes[1 : 1 + len(renders)], strict=True))
        self.proxy_input = {p: (self.codes, self.pixels) for p in self.proxies}
        if masked:
            self.proxy_input["inpainting"] = (codes[-1], self.image_pixels(masked[0]))

    def image_pixels(self, images: np.ndarray) -> np.ndarray | None:
        """What an item carries of each image besides its codes: the patch encoder's input."""
        return patch_pixels(images, self.cfg.patch_size)

    def __len__(self) -> int:
        return len(self.scenes)

    def understanding(self, i: int, q: int) -> Item:
        qa = self.scenes[i].questions[q]
        return understanding_item(
            self.vocab, self.codes[i], self.pixels[i], qa.question, qa.answer,
            self.cfg.vision_input,
        )  # fmt: skip

    def dialogue(self, i: int, order) -> Item:
        """Every question of scene i, in `order` (question indices), after one image."""
        qs = self.scenes[i].questions
        turns = [(qs[q].question, qs[q].answer) for q in order]
        return dialogue_item(
            self.vocab, self.codes[i], self.pixels[i], turns, self.cfg.vision_input
        )

    def caption(self, i: int) -> Item:
        text = caption(self.scenes[i].objects, self.world.colors, self.world.image_size)
        return caption_item(self.vocab, self.codes[i], self.pixels[i], text, self.cfg.vision_input)

    def generation(self, i: int, with_target: bool = True, unconditional: bool = False) -> Item:
        """Prompt -> image i; without the prompt when `unconditional` (classifier-free
        guidance's other stream)."""
        target = self.codes[i] if with_target else None
        prompt = "" if unconditional else self.scenes[i].prompt.text
        return generation_item(self.vocab, prompt, target)

    def proxy(self, proxy: str, i: int, with_target: bool = True) -> Item:
        codes, pixels = self.proxy_input[proxy]
        target = self.proxy_target[proxy][i] if with_target else None
        return proxy_item(self.vocab, proxy, codes[i], pixels[i], target, self.cfg.vision_input)


FEW_LABEL = "few_label"  # a batch_plan task: one few-label question (an understanding item)


def batch_plan(tcfg: TrainConfig, step: int, n_pool: int) -> list[tuple[int, str]]:
    """(position in the scene pool, task) for each item of the global batch of `step`: proxy
    items first, then base items drawn by the mix (understanding dialogue, caption or
    generation), then the few-label items (`TrainConfig.few_label_scenes`).

    Proxy items draw from the first `proxy_scenes` of the pool when that is set, few-label items
    from its first `few_label_scenes`; each from a random stream of its own, so a plan without
    them is the plan it always was."""
    rng = np.random.default_rng([tcfg.seed, step])
    n_label = round(tcfg.batch_size * tcfg.few_label_share) if tcfg.few_label_scenes else 0
    n_rest = tcfg.batch_size - n_label
    n_proxy = round(n_rest * tcfg.proxy_ratio) if tcfg.proxy not in (None, "none") else 0
    scenes = rng.integers(n_pool, size=tcfg.batch_size)
    shares = np.array([tcfg.understanding_share, tcfg.caption_share, tcfg.generation_share])
    base = rng.choice(
        ["understanding", "caption", "generation"], tcfg.batch_size, p=shares / shares.sum()
    )
    if tcfg.proxy_scenes and n_proxy:
        budget = np.random.default_rng([tcfg.seed, step, 1])
        scenes[:n_proxy] = budget.integers(min(tcfg.proxy_scenes, n_pool), size=n_proxy)
    if n_label:
        labelled = np.random.default_rng([tcfg.seed, step, 2])
        scenes[n_rest:] = labelled.integers(min(tcfg.few_label_scenes, n_pool), size=n_label)
    tasks = [tcfg.proxy] * n_proxy + list(base[n_proxy:n_rest]) + [FEW_LABEL] * n_label
    return list(zip(scenes.tolist(), tasks, strict=True))


def asked(questions) -> list[int]:
    """The questions of a scene a training dialogue asks: all but the few-label families'."""
    return [q for q, qa in enumerate(questions) if qa.family not in FEW_LABEL_FAMILIES]


@dataclass(frozen=True)
class TrainStream:
    """What training draws its batches from: a world and how to turn its scenes into items."""

    world: object
    tokenizer: object
    vocab: Vocab
    cfg: ModelConfig
    scenes: Sequence[int]  # the pool of training scene indices

    @property
    def patch_shape(self) -> tuple[int, int]:
        return self.cfg.n_patches, self.cfg.patch_size**2 * 3

    def task_data(self, indices, proxies) -> TaskData:
        """The batch's scenes, rendered and tokenized (a Hugging Face model's stream tokenizes
        them with the model's own processor: sgt_probe.sources.tuning)."""
        return TaskData(self.world, self.tokenizer, self.vocab, self.cfg, indices, proxies)

    @staticmethod
    def proxies(tcfg: TrainConfig) -> tuple[str, ...]:
        return () if tcfg.proxy in (None, "none") else (tcfg.proxy,)

    def batch(self, tcfg: TrainConfig, step: int, rank: int = 0, world_size: int = 1) -> list[Item]:
        """This rank's share (every `world_size`-th item) of the global batch of `step`,
        rendered now."""
        plan = batch_plan(tcfg, step, len(self.scenes))
        mine = list(range(len(plan)))[rank::world_size]  # global positions of this share
        data = self.task_data([self.scenes[plan[g][0]] for g in mine], self.proxies(tcfg))
        items = []
        for k, g in enumerate(mine):
            task, questions = plan[g][1], data.scenes[k].questions
            dialogue = asked(questions)
            if task == FEW_LABEL:
                few = [q for q, qa in enumerate(questions) if qa.family in FEW_LABEL_FAMILIES]
                # a scene lacking the family (a folder's) gives its first question instead
                items.append(data.understanding(k, few[0] if few else 0))
            elif task == "understanding" and dialogue:
                # each dialogue asks its questions in its own random order, so every family is
                # also asked first, right after the image, as evaluation asks it
                order = np.random.default_rng([tcfg.seed, step, g]).permutation(dialogue)
                items.append(data.dialogue(k, order))
            elif task in ("understanding", "caption"):  # a scene without questions: caption
                items.append(data.caption(k))
            elif task == "generation":
                drop = np.random.default_rng([tcfg.seed, step, g]).random() < tcfg.prompt_dropout
                items.append(data.generation(k, unconditional=drop))
            else:
                items.append(data.proxy(task, k))
        return items
