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
    type_chance,
    type_shares,
)
from sgt_probe.capture.bridge import HookedRunner
from sgt_probe.capture.labels import object_patches
from sgt_probe.compare.inputs import Inputs
from sgt_probe.data.text import WORD_TYPES, word_types
from sgt_probe.model.sequences import ROLE_GENERATED, ROLE_IMAGE, ROLE_TASK, ROLE_TEXT, Item
from sgt_probe.probes.stats import bootstrap_ci, paired_change_pct
from sgt_probe.report.format import EXPLORER_IMAGES, EXPLORER_INSTANCES, key_attn
from sgt_probe.report.schema import (
    Allocation,
    Attention,
    AttentionStats,
    ExplorerSample,
    Grounded,
    WordAllocation,
)

NAME = "attention"


def text_queries(roles: torch.Tensor) -> torch.Tensor:
    """The positions that count as text queries: the question words and the answer-task token."""
    return (roles == ROLE_TEXT) | (roles == ROLE_TASK)


@dataclass
class QAContext:
    """What the statistics read of a batch of understanding items: the text queries, image
    keys, the answer cue, each text word's type (or None), and, for the items whose question
    names an object (`named`, indices into the batch), that object's image positions."""

    text: torch.Tensor  # [B, T] text queries (question words and the answer cue)
    image: torch.Tensor  # [B, T] image positions
    cue: torch.Tensor  # [B, T] the answer cue
    types: torch.Tensor | None  # [B, T] WORD_TYPES index of each text word, -1 elsewhere
    named: torch.Tensor  # [b] items whose question names an object
    object: torch.Tensor  # [B, T] the named object's image positions


@dataclass
class DrawContext:
    """A batch of generation items with their targets: the drawn image tokens and the word
    type of each prompt word."""

    generated: torch.Tensor  # [B, T]
    types: torch.Tensor  # [B, T]


def _grounded(pattern: torch.Tensor, c: QAContext) -> np.ndarray:
    """[..., b] grounded precision of the items that name an object (the head-averaged
    pattern's)."""
    if not len(c.named):
        return np.zeros((*pattern.shape[:-4], 0))
    p = pattern.index_select(-4, c.named)
    n = c.named
    return grounded_precision(p, c.text[n], c.image[n], c.object[n]).per_sample


# The statistics of each layer's pattern, per sample: reduced in the hooks, one layer at a time
# (attention.reduce), each [..., B, *] from a pattern [..., B, H, Q, K] and its batch's context.
# A new statistic is one entry here, and one line where `attention_stats` reads it.
QA_STATS = {  # over the understanding items (QAContext); [..., B, H]
    "text->image": lambda p, c: attention_mass(p, c.text, c.image, per_sample=True),
    "image->image": lambda p, c: attention_mass(p, c.image, c.image, per_sample=True),
    "text->text": lambda p, c: attention_mass(p, c.text, c.text, per_sample=True),
    "sink": lambda p, c: sink_mass(p, c.text, per_sample=True),
    "entropy": lambda p, c: attention_entropy(p, c.text, per_sample=True),
    "grounded": _grounded,  # [..., b]
}
CUE_STATS = {  # with word types: the answer cue -> each type of question word, [..., B, types]
    "cue->question": lambda p, c: type_shares(p, c.cue, c.types, len(WORD_TYPES)),
}
PROXY_STATS = {  # over the segmentation-proxy items (their roles): drawn map -> input image
    "generated->input": lambda p, roles: attention_mass(
        p, roles == ROLE_GENERATED, roles == ROLE_IMAGE, per_sample=True
    ),
}
DRAW_STATS = {  # over generation items (DrawContext): drawn image -> each type of prompt word
    "generated->prompt": lambda p, c: type_shares(p, c.generated, c.types, len(WORD_TYPES)),
}


def attention_stats(
    runner: HookedRunner, qa_items: list[Item], qa_scenes: list, qa_objects: list[int],
    proxy_items: list[Item], batch_size: int = 32, n_boot: int = 1000, seed: int = 0,
    qa_types: list[list[int]] | None = None, gen_items: list[Item] = (),
    gen_types: list[list[int]] | None = None, stream: bool = True,
) -> tuple[AttentionStats, np.ndarray]:  # fmt: skip
    """Attention mass by kind, entropy, grounded precision and allocation, per layer (and
    head); and the head-averaged text->image mass of each question [L, n], which the suite pairs
    across checkpoints (Allocation.change_pct).

    qa_items: understanding items; qa_objects[i] the instance id its question names (0: none).
    proxy_items: segmentation-proxy items with targets (for generated->input).
    qa_types, gen_types: per item, per position, the WORD_TYPES index of each text word (-1
    elsewhere), for the answer cue -> question and generated image -> prompt allocations;
    gen_items: generation items with their targets (the scene teacher-forced).
    Each layer's pattern is reduced to these as it is produced (`stream`; False: every layer's
    pattern of a batch stacked first, the same numbers at L times the memory).
    """
    grid = runner.grid
    chance, cue_chance = [], []

    def qa_context(s: int, chunk: list, batch: dict) -> QAContext:
        roles = batch["roles"]
        text, image = text_queries(roles), roles == ROLE_IMAGE
        types = None
        if qa_types is not None:
            types = _padded(qa_types[s : s + len(chunk)], roles)
            cue_chance.append(type_chance(types.cpu(), len(WORD_TYPES)))
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
        return QAContext(text, image, roles == ROLE_TASK, types, idx, obj)

    stats = {**QA_STATS, **(CUE_STATS if qa_types is not None else {})}
    per = reduce_patterns(runner, qa_items, stats, qa_context, batch_size, stream)
    mass = {k: np.nanmean(per[k], axis=1).tolist() for k in ("text->image", "image->image",
                                                              "text->text", "sink")}  # fmt: skip
    gen = None
    if proxy_items:
        gen = reduce_patterns(runner, proxy_items, PROXY_STATS, lambda s, c, b: b["roles"],
                              batch_size, stream)["generated->input"]  # fmt: skip
    mass["generated->input"] = np.nanmean(gen, axis=1).tolist() if gen is not None else None
    draw_chance = []

    def draw_context(s: int, chunk: list, batch: dict) -> DrawContext:
        roles = batch["roles"]
        types = _padded(gen_types[s : s + len(chunk)], roles)
        draw_chance.append(type_chance(types.cpu(), len(WORD_TYPES)))
        return DrawContext(roles == ROLE_GENERATED, types)

    drawn = None
    if gen_items:
        shares = reduce_patterns(runner, list(gen_items), DRAW_STATS, draw_context, batch_size,
                                 stream)["generated->prompt"]  # fmt: skip
        drawn = word_allocation(shares, np.concatenate(draw_chance), n_boot, seed)
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
    cue = None
    if qa_types is not None:
        cue = word_allocation(per["cue->question"], np.concatenate(cue_chance), n_boot, seed)
    text_image = np.nanmean(per["text->image"], axis=-1)  # [L, n]
    allocation = Allocation(
        text_image=np.nanmean(text_image, axis=1).tolist(),
        generated_to_prompt=drawn, cue_to_question=cue,
    )  # fmt: skip
    entropy = np.nanmean(per["entropy"], axis=1).tolist()
    stats = AttentionStats(mass=mass, entropy=entropy, grounded=grounded, allocation=allocation)
    return stats, text_image


def word_allocation(shares: np.ndarray, chance: np.ndarray, n_boot: int, seed: int
                    ) -> WordAllocation | None:  # fmt: skip
    """Word-type shares of one query set's attention [L, n, types] (`type_shares`) and their
    chance levels [n, types] (`type_chance`): per type and layer, the mean over the samples that
    have queries and typed words, with a bootstrap CI."""
    ok = ~np.isnan(shares).any(axis=(0, 2)) if shares.shape[1] else np.zeros(0, bool)
    if not ok.any():
        return None
    chance = chance[ok]
    out = {k: {} for k in ("share", "lo", "hi")}
    for t, word_type in enumerate(WORD_TYPES):
        cis = [bootstrap_ci(layer[ok, t], n_boot=n_boot, seed=seed) for layer in shares]
        for k, column in zip(out, zip(*cis, strict=True), strict=True):
            out[k][word_type] = list(column)
    chance = {w: float(chance[:, t].mean()) for t, w in enumerate(WORD_TYPES)}
    return WordAllocation(**out, chance=chance, n=int(ok.sum()))


def _padded(types: list[list[int]], roles: torch.Tensor) -> torch.Tensor:
    """[B, T] the items' word types, padded with -1 to the batch's length."""
    out = torch.full(roles.shape, -1, dtype=torch.long, device=roles.device)
    for j, t in enumerate(types):
        out[j, : len(t)] = torch.tensor(t, dtype=torch.long)
    return out


def text_word_types(source, items: list[Item], shapes, colors) -> list[list[int]]:
    """Per item, per position: the WORD_TYPES index of each text word (a question's or a
    prompt's), -1 at every other position. Words are the source's token texts, stripped: a word
    its tokenizer splits into pieces has pieces of type other."""
    out = []
    for item in items:
        texts = [t.strip() for t in source.token_texts(item.ids)]
        at = [i for i, r in enumerate(item.roles) if r == ROLE_TEXT]
        types = [-1] * len(item.ids)
        for i, kind in zip(at, word_types([texts[i] for i in at], shapes, colors), strict=True):
            types[i] = WORD_TYPES.index(kind)
        out.append(types)
    return out


def _changes(stats: dict, text_image: dict, names: list[str], scene_of: list[int], cfg) -> None:
    """Fill each checkpoint's Allocation.change_pct against the reference (the first name):
    per layer, paired over the same questions, scenes resampled together."""
    ref = text_image[names[0]]
    for name in names[1:]:
        cis = [paired_change_pct(a, b, scene_of, cfg.n_boot, cfg.seed)
               for a, b in zip(ref, text_image[name], strict=True)]  # fmt: skip
        change, lo, hi = (list(c) for c in zip(*cis, strict=True))
        allocation = stats[name].allocation
        allocation.change_pct, allocation.lo, allocation.hi = change, lo, hi


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
    ev, cfg, world = inputs.eval, inputs.cfg, inputs.world
    scenes = [ev.scene(k) for k in range(len(ev.qa))]
    seg = [ev.data.proxy("segmentation", i) for i in range(len(ev.data))]
    drawn = [ev.data.generation(i) for i in range(len(ev.data))]
    qa_types = text_word_types(inputs.ref, ev.qa, world.shapes, world.colors)
    gen_types = text_word_types(inputs.ref, drawn, world.shapes, world.colors)
    shown = [ev.qa[k] for k in ev.explorer]
    stats, text_image = {}, {}
    for name in inputs.names:
        runner = inputs.runner(name)
        stats[name], text_image[name] = attention_stats(
            runner, ev.qa, scenes, ev.objects, seg, cfg.batch_size, n_boot=cfg.n_boot,
            seed=cfg.seed, qa_types=qa_types, gen_items=drawn, gen_types=gen_types,
        )  # fmt: skip
        if shown:
            arrays[key_attn(name)] = text_image_attention(runner, shown, cfg.batch_size)
    _changes(stats, text_image, inputs.names, ev.scene_of, cfg)
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
