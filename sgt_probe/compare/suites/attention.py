"""The attention suite: where text queries look in the image, per layer and head, and the
attention explorer's samples; definitions in `sgt_probe.report.schema.DEFINITIONS["attention"]`.
"""

from __future__ import annotations

import numpy as np
import torch

from sgt_probe.attention.stats import (
    attention_entropy,
    attention_mass,
    grounded_chance,
    grounded_precision,
    sink_mass,
    type_chance,
    type_shares,
)
from sgt_probe.capture.bridge import HookedRunner, pattern_name
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


def attention_stats(
    runner: HookedRunner, qa_items: list[Item], qa_scenes: list, qa_objects: list[int],
    proxy_items: list[Item], batch_size: int = 32, n_boot: int = 1000, seed: int = 0,
    qa_types: list[list[int]] | None = None, gen_items: list[Item] = (),
    gen_types: list[list[int]] | None = None,
) -> tuple[AttentionStats, np.ndarray]:  # fmt: skip
    """Attention mass by kind, entropy, grounded precision and allocation, per layer (and
    head); and the head-averaged text->image mass of each question [L, n], which the suite pairs
    across checkpoints (Allocation.change_pct).

    qa_items: understanding items; qa_objects[i] the instance id its question names (0: none).
    proxy_items: segmentation-proxy items with targets (for generated->input).
    qa_types, gen_types: per item, per position, the WORD_TYPES index of each text word (-1
    elsewhere), for the answer cue -> question and generated image -> prompt allocations;
    gen_items: generation items with their targets (the scene teacher-forced).
    """
    grid = runner.grid
    names = [pattern_name(layer) for layer in range(runner.n_layers)]
    kinds: dict[str, list[np.ndarray]] = {
        k: [] for k in ("text->image", "image->image", "text->text", "sink")
    }
    entropy, precision, chance, cue = [], [], [], Shares()
    for s, chunk, batch in runner.batches(qa_items, batch_size):
        _, cache = runner.run(batch, names)
        pattern = torch.stack([cache[n] for n in names])  # [L, B, H, T, T]
        roles = batch["roles"]
        text, image = text_queries(roles), roles == ROLE_IMAGE
        kinds["text->image"].append(attention_mass(pattern, text, image, per_sample=True))
        kinds["image->image"].append(attention_mass(pattern, image, image, per_sample=True))
        kinds["text->text"].append(attention_mass(pattern, text, text, per_sample=True))
        kinds["sink"].append(sink_mass(pattern, text, per_sample=True))
        entropy.append(attention_entropy(pattern, text, per_sample=True))
        if qa_types is not None:
            cue.add(pattern, roles == ROLE_TASK, _padded(qa_types[s : s + len(chunk)], roles))
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
        if named:
            idx = torch.tensor(named, device=runner.device)
            gp = grounded_precision(pattern[:, idx], text[idx], image[idx], obj[idx])
            precision.append(gp.per_sample)  # [L, b]
            chance.append(grounded_chance(image[idx], obj[idx]))
    mass = {k: _mean_samples(v).tolist() for k, v in kinds.items()}  # [L, H] each
    gen = []
    for _, _, batch in runner.batches(proxy_items, batch_size):
        _, cache = runner.run(batch, names)
        pattern = torch.stack([cache[n] for n in names])
        roles = batch["roles"]
        gen.append(
            attention_mass(pattern, roles == ROLE_GENERATED, roles == ROLE_IMAGE, per_sample=True)
        )
    mass["generated->input"] = _mean_samples(gen).tolist() if gen else None
    drawn = Shares()
    for s, chunk, batch in runner.batches(list(gen_items), batch_size):
        _, cache = runner.run(batch, names)
        pattern = torch.stack([cache[n] for n in names])
        roles = batch["roles"]
        drawn.add(pattern, roles == ROLE_GENERATED, _padded(gen_types[s : s + len(chunk)], roles))
    grounded = None
    if precision:
        per = np.concatenate(precision, axis=1)  # [L, n]
        ok = ~np.isnan(per).any(0)
        cis = [bootstrap_ci(row[ok], n_boot=n_boot, seed=seed) for row in per]
        ch = float(np.concatenate(chance)[ok].mean())
        grounded = Grounded(
            precision=[c[0] for c in cis], lo=[c[1] for c in cis], hi=[c[2] for c in cis],
            chance=ch, ratio=[c[0] / ch for c in cis], n=int(ok.sum()),
        )  # fmt: skip
    text_image = np.nanmean(np.concatenate(kinds["text->image"], axis=1), axis=-1)  # [L, n]
    allocation = Allocation(
        text_image=np.nanmean(text_image, axis=1).tolist(),
        generated_to_prompt=drawn.result(n_boot, seed), cue_to_question=cue.result(n_boot, seed),
    )  # fmt: skip
    stats = AttentionStats(mass=mass, entropy=_mean_samples(entropy).tolist(), grounded=grounded,
                           allocation=allocation)  # fmt: skip
    return stats, text_image


class Shares:
    """Word-type shares of one query set's attention, gathered batch by batch (`type_shares`)."""

    def __init__(self):
        self.shares: list[np.ndarray] = []  # [L, B, T] per batch
        self.chance: list[np.ndarray] = []  # [B, T] per batch

    def add(self, pattern: torch.Tensor, queries: torch.Tensor, key_type: torch.Tensor) -> None:
        self.shares.append(type_shares(pattern, queries, key_type, len(WORD_TYPES)))
        self.chance.append(type_chance(key_type, len(WORD_TYPES)))

    def result(self, n_boot: int, seed: int) -> WordAllocation | None:
        if not self.shares:
            return None
        shares = np.concatenate(self.shares, axis=1)  # [L, n, T]
        ok = ~np.isnan(shares).any(axis=(0, 2))  # samples with queries and words
        if not ok.any():
            return None
        chance = np.concatenate(self.chance)[ok]
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


def _mean_samples(chunks: list[np.ndarray]) -> np.ndarray:
    """Concatenate per-sample [L, B, H] chunks and average over samples, ignoring NaN."""
    return np.nanmean(np.concatenate(chunks, axis=1), axis=1)


def text_image_attention(runner: HookedRunner, items: list[Item]) -> np.ndarray:
    """float16 [S, L, H, T, P]: question-token queries (padded to the longest) -> image keys."""
    names = [pattern_name(layer) for layer in range(runner.n_layers)]
    batch = next(runner.batches(items, len(items)))[2]
    _, cache = runner.run(batch, names)
    pattern = torch.stack([cache[n] for n in names], dim=1)  # [S, L, H, T, T]
    roles = batch["roles"]
    n_text = int(text_queries(roles).sum(1).max())
    out = np.zeros((len(items), runner.n_layers, runner.n_heads, n_text, runner.grid.n_patches),
                   np.float16)  # fmt: skip
    for j in range(len(items)):
        q = text_queries(roles[j]).nonzero()[:, 0]
        k = (roles[j] == ROLE_IMAGE).nonzero()[:, 0]
        out[j, :, :, : len(q)] = pattern[j][:, :, q][:, :, :, k].cpu().numpy()
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
            arrays[key_attn(name)] = text_image_attention(runner, shown)
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
