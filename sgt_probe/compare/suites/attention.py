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
)
from sgt_probe.capture.bridge import HookedRunner, pattern_name
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


def attention_stats(
    runner: HookedRunner, qa_items: list[Item], qa_scenes: list, qa_objects: list[int],
    proxy_items: list[Item], batch_size: int = 32, n_boot: int = 1000, seed: int = 0,
) -> AttentionStats:  # fmt: skip
    """Attention mass by kind, entropy and grounded precision, per layer (and head).

    qa_items: understanding items; qa_objects[i] the instance id its question names (0: none).
    proxy_items: segmentation-proxy items with targets (for generated->input).
    """
    grid = runner.grid
    names = [pattern_name(layer) for layer in range(runner.n_layers)]
    kinds: dict[str, list[np.ndarray]] = {
        k: [] for k in ("text->image", "image->image", "text->text", "sink")
    }
    entropy, precision, chance = [], [], []
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
    return AttentionStats(mass=mass, entropy=_mean_samples(entropy).tolist(), grounded=grounded)


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
            arrays[key_attn(name)] = text_image_attention(runner, shown)
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
