"""The attention suite: where text queries look in the image, per layer and head, and the
attention explorer's samples; definitions in `sgt_probe.report.schema.DEFINITIONS["attention"]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sgt_probe.attention.reduce import reduce_patterns
from sgt_probe.attention.stats import (
    attention_entropy,
    attention_mass,
    grounded_chance,
    grounded_precision,
    sink_mass,
)
from sgt_probe.capture.bridge import HookedRunner
from sgt_probe.capture.labels import object_patches
from sgt_probe.compare.inputs import Inputs
from sgt_probe.model.sequences import ROLE_GENERATED, ROLE_IMAGE, ROLE_TASK, ROLE_TEXT, Item
from sgt_probe.probes.stats import bootstrap_ci
from sgt_probe.report.format import EXPLORER_IMAGES, EXPLORER_INSTANCES, key_attn
from sgt_probe.report.schema import Attention, AttentionStats, ExplorerSample, Grounded

NAME = "attention"


def text_queries(roles: torch.Tensor) -> torch.Tensor:
    """The positions that count as text queries: the question words and the answer-task token."""
    return (roles == ROLE_TEXT) | (roles == ROLE_TASK)


@dataclass
class QAContext:
    """What the statistics read of a batch of understanding items: the text queries, image
    keys, and, for the items whose question names an object (`named`, indices into the batch),
    that object's image positions."""

    text: torch.Tensor  # [B, T] text queries (question words and the answer cue)
    image: torch.Tensor  # [B, T] image positions
    named: torch.Tensor  # [b] items whose question names an object
    object: torch.Tensor  # [B, T] the named object's image positions


def _grounded(pattern: torch.Tensor, c: QAContext) -> np.ndarray:
    """[..., b] grounded precision of the items that name an object (the head-averaged
    pattern's)."""
    if not len(c.named):
        return np.zeros((*pattern.shape[:-4], 0))
    p = pattern.index_select(-4, c.named)
    n = c.named
    return grounded_precision(p, c.text[n], c.image[n], c.object[n]).per_sample


# The statistics of each layer's pattern over the understanding items, each [..., B, H] (the
# grounded precision [..., b]): reduced in the hooks, one layer at a time (attention.reduce).
# A new statistic is one entry here, and one where `attention_stats` reads it.
QA_STATS = {
    "text->image": lambda p, c: attention_mass(p, c.text, c.image, per_sample=True),
    "image->image": lambda p, c: attention_mass(p, c.image, c.image, per_sample=True),
    "text->text": lambda p, c: attention_mass(p, c.text, c.text, per_sample=True),
    "sink": lambda p, c: sink_mass(p, c.text, per_sample=True),
    "entropy": lambda p, c: attention_entropy(p, c.text, per_sample=True),
    "grounded": _grounded,
}
# over the segmentation-proxy items: drawn image tokens -> the input image
PROXY_STATS = {
    "generated->input": lambda p, roles: attention_mass(
        p, roles == ROLE_GENERATED, roles == ROLE_IMAGE, per_sample=True
    ),
}


def attention_stats(
    runner: HookedRunner, qa_items: list[Item], qa_scenes: list, qa_objects: list[int],
    proxy_items: list[Item], batch_size: int = 32, n_boot: int = 1000, seed: int = 0,
    stream: bool = True,
) -> AttentionStats:  # fmt: skip
    """Attention mass by kind, entropy and grounded precision, per layer (and head).

    qa_items: understanding items; qa_objects[i] the instance id its question names (0: none).
    proxy_items: segmentation-proxy items with targets (for generated->input). Each layer's
    pattern is reduced to these as it is produced (`stream`; False: every layer's pattern of a
    batch stacked first, the same numbers at L times the memory).
    """
    grid = runner.grid
    chance = []

    def qa_context(s: int, chunk: list, batch: dict) -> QAContext:
        roles = batch["roles"]
        text, image = text_queries(roles), roles == ROLE_IMAGE
        obj = torch.zeros_like(image)
        named = []
        for j in range(len(chunk)):
            inst = qa_objects[s + j]
            if inst:
                pos = image[j].nonzero()[:, 0]
                obj[j, pos] = torch.from_numpy(
                    object_patches(qa_scenes[s + j], inst, grid.patch_size)
                ).to(runner.device)
                named.append(j)
        idx = torch.tensor(named, dtype=torch.long, device=runner.device)
        if named:
            chance.append(grounded_chance(image[idx], obj[idx]))
        return QAContext(text, image, idx, obj)

    per = reduce_patterns(runner, qa_items, QA_STATS, qa_context, batch_size, stream)
    mass = {k: np.nanmean(per[k], axis=1).tolist() for k in ("text->image", "image->image",
                                                              "text->text", "sink")}  # fmt: skip
    gen = None
    if proxy_items:
        gen = reduce_patterns(runner, proxy_items, PROXY_STATS, lambda s, c, b: b["roles"],
                              batch_size, stream)["generated->input"]  # fmt: skip
    mass["generated->input"] = np.nanmean(gen, axis=1).tolist() if gen is not None else None
    grounded = None
    precision = per["grounded"]  # [L, n]
    if precision.shape[1]:
        ok = ~np.isnan(precision).any(0)
        cis = [bootstrap_ci(row[ok], n_boot=n_boot, seed=seed) for row in precision]
        ch = float(np.concatenate(chance)[ok].mean())
        grounded = Grounded(
            precision=[c[0] for c in cis], lo=[c[1] for c in cis], hi=[c[2] for c in cis],
            chance=ch, ratio=[c[0] / ch for c in cis], n=int(ok.sum()),
        )  # fmt: skip
    entropy = np.nanmean(per["entropy"], axis=1).tolist()
    return AttentionStats(mass=mass, entropy=entropy, grounded=grounded)


def text_image_attention(runner: HookedRunner, items: list[Item], batch_size: int = 32
                         ) -> np.ndarray:  # fmt: skip
    """float16 [S, L, H, T, P]: question-token queries (padded to the longest) -> image keys,
    cut from each layer's pattern as it is produced (only these rows and columns are kept)."""
    n_text = max(int(text_queries(torch.tensor(it.roles)).sum()) for it in items)
    out = np.zeros((len(items), runner.n_layers, runner.n_heads, n_text, runner.grid.n_patches),
                   np.float16)  # fmt: skip
    for s, chunk, batch in runner.batches(items, batch_size):
        roles = batch["roles"]
        rows = [(text_queries(roles[j]).nonzero()[:, 0], (roles[j] == ROLE_IMAGE).nonzero()[:, 0])
                for j in range(len(chunk))]  # fmt: skip

        def keep(layer: int, pattern: torch.Tensor, s=s, rows=rows) -> None:
            for j, (q, k) in enumerate(rows):
                out[s + j, layer, :, : len(q)] = pattern[j][:, q][:, :, k].cpu().numpy()

        runner.each_pattern(batch, keep)
    return out


def naming_tokens(tokens: list[str], scene, instance: int) -> list[int]:
    """Indices of the query tokens that name the target object (its color or shape word; a
    word a model's tokenizer splits into pieces is not found)."""
    obj = next((o for o in scene.objects if o.instance_id == instance), None)
    if obj is None:
        return []
    return [i for i, t in enumerate(tokens) if t.strip() in (obj.color, obj.shape)]


def run(inputs: Inputs, arrays: dict[str, np.ndarray]) -> Attention:
    ev, cfg = inputs.eval, inputs.cfg
    scenes = [ev.scene(k) for k in range(len(ev.qa))]
    seg = [ev.data.proxy("segmentation", i) for i in range(len(ev.data))]
    shown = [ev.qa[k] for k in ev.explorer]
    stats = {}
    for name in inputs.names:
        runner = inputs.runner(name)
        stats[name] = attention_stats(runner, ev.qa, scenes, ev.objects, seg, cfg.batch_size,
                                      n_boot=cfg.n_boot, seed=cfg.seed)  # fmt: skip
        if shown:
            arrays[key_attn(name)] = text_image_attention(runner, shown, cfg.batch_size)
    if ev.explorer:
        arrays[EXPLORER_IMAGES.key] = np.stack([scenes[k].image for k in ev.explorer])
        arrays[EXPLORER_INSTANCES.key] = np.stack(
            [scenes[k].instances for k in ev.explorer]
        ).astype(np.int16)
    else:  # a folder's questions need not name objects
        inputs.skip("attention explorer", "no held-out question names an object (its 'objects')")
    explorer = []
    for k in ev.explorer:
        qa, item = ev.questions[k], ev.qa[k]
        # the text of the query rows of the explorer's arrays, as the reference tokenizes them
        query = torch.tensor(item.ids)[text_queries(torch.tensor(item.roles))].tolist()
        tokens = [t.strip() or t for t in inputs.ref.token_texts(query)]
        explorer.append(ExplorerSample(
            index=int(ev.data.indices[ev.scene_of[k]]), family=qa.family, question=qa.question,
            tokens=tokens, answer=qa.answer, target_instance=int(ev.objects[k]),
            target_tokens=naming_tokens(tokens, scenes[k], ev.objects[k]),
        ))  # fmt: skip
    return Attention(stats=stats, explorer=explorer)
