"""The analyses `compare` runs for one checkpoint, each on arrays or a hooked runner.

Each suite returns plain lists/floats ready for report.json (and arrays for arrays.npz).
Definitions are in DESIGN.md 5 and in `DEFINITIONS` below, which report.json carries.
"""

from __future__ import annotations

import numpy as np
import torch

from sgt_probe.attention.knockout import (
    apply_knockout_to_scores,
    knockout_mask,
    layer_windows,
    relative_change,
)
from sgt_probe.attention.stats import (
    attention_entropy,
    attention_mass,
    grounded_chance,
    grounded_precision,
    sink_mass,
)
from sgt_probe.capture.bridge import HookedRunner, pattern_name, scores_name
from sgt_probe.capture.labels import object_patches
from sgt_probe.model.generate import answer_probs
from sgt_probe.model.sequences import (
    ROLE_GENERATED,
    ROLE_IMAGE,
    ROLE_TASK,
    ROLE_TEXT,
    Item,
)
from sgt_probe.probes.cka import layerwise_cka
from sgt_probe.probes.logistic import LayerwiseProbe
from sgt_probe.probes.separability import layerwise_fisher_ratio, layerwise_silhouette
from sgt_probe.probes.stats import bootstrap_ci, control_labels

DEFINITIONS = {
    "attention_direction": "Always query->key: 'text->image' is text-token queries attending "
    "to image-token keys. Text queries are the question words and the answer-task token.",
    "attention_mass": "Per layer, head and sample: for each query in Q the sum of its attention "
    "weights over the key set K, averaged over the queries in Q; then averaged over samples. "
    "Kinds: text->image, image->image, text->text, generated->input (generated-image queries "
    "of segmentation-proxy sequences to input-image keys, teacher-forced on the ground-truth "
    "map); sink = mass on the first token (<bos>) from text queries.",
    "attention_entropy": "Mean over text queries of -sum_k p log p (nats).",
    "grounded_precision": "For a question that names an object: the share of the (head-"
    "averaged) text->image mass that lands on image patches holding any pixel of that object's "
    "ground-truth mask; chance = the object's share of image patches; ratio = precision/chance.",
    "linear_separability": "Per layer, multinomial logistic regression on the residual stream "
    "(hook_resid_post) at image positions, L2 strength C chosen by cross-validation with folds "
    "grouped by image, fitted on half of the images and scored on the other half; accuracy "
    "with a 95% cluster-bootstrap CI (images resampled).",
    "selectivity": "Task accuracy minus control-task accuracy (Hewitt & Liang 2019): each VQ "
    "code of the patch gets one fixed random label with the task's class distribution.",
    "object_count_probe": "Image-level probe: mean of the image-position residuals -> number "
    "of objects.",
    "fisher": "trace(between-class scatter) / trace(within-class scatter) of patch residuals by "
    "semantic class.",
    "silhouette": "Silhouette score (cosine) of patch residuals by semantic class, subsampled.",
    "cka": "Debiased linear CKA (Kornblith et al. 2019, unbiased HSIC) between two checkpoints' "
    "image-position residuals at the same layer on the same inputs.",
    "knockout": "Block text->image edges (text queries to image keys) in a window of layers "
    "around L; relative change of the probability of the correct answer, (p_new - p_base) / "
    "p_base, averaged over questions, with a 95% bootstrap CI.",
    "deltas": "Paired over the same items against the first checkpoint: mean(b) - mean(a) with "
    "a 95% paired bootstrap CI (scenes resampled).",
}


def _text_queries(roles: torch.Tensor) -> torch.Tensor:
    return (roles == ROLE_TEXT) | (roles == ROLE_TASK)


# --- probes ------------------------------------------------------------------------------


def probe_target(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, train: np.ndarray, control_types=None,
    Cs=(0.1, 1.0, 10.0), n_folds: int = 3, n_boot: int = 1000, seed: int = 0, max_iter: int = 50,
) -> dict:  # fmt: skip
    """Fit on the `train` rows (grouped CV for C), score the others; X [L, N, d].

    `majority` is the held-out accuracy of always answering the training rows' most common
    label: the floor a probe must beat (most image patches are background).
    """
    test = ~train
    values, counts = np.unique(y[train], return_counts=True)
    majority = float(np.mean(y[test] == values[np.argmax(counts)]))
    probe = LayerwiseProbe(Cs=Cs, n_folds=n_folds, max_iter=max_iter, seed=seed).fit(
        X[:, train], y[train], groups[train]
    )
    correct = probe.predict(X[:, test]) == y[test]  # [L, n_test]
    cis = [bootstrap_ci(c, groups[test], n_boot=n_boot, seed=seed) for c in correct]
    out = {
        "accuracy": [c[0] for c in cis], "lo": [c[1] for c in cis], "hi": [c[2] for c in cis],
        "C": [float(c) for c in probe.C_], "majority": majority,
    }  # fmt: skip
    if control_types is not None:
        yc = control_labels(control_types, len(np.unique(y)), seed=seed, labels=y)
        cprobe = LayerwiseProbe(Cs=Cs, n_folds=n_folds, max_iter=max_iter, seed=seed)
        cacc = cprobe.fit(X[:, train], yc[train], groups[train]).score(X[:, test], yc[test])
        out["control"] = [float(a) for a in cacc]
        out["selectivity"] = [a - c for a, c in zip(out["accuracy"], out["control"], strict=True)]
    return out


def probe_suite(X: np.ndarray, labels: dict, image_of: np.ndarray, codes: np.ndarray,
                counts: np.ndarray, seed: int = 0, n_boot: int = 1000) -> dict:  # fmt: skip
    """Patch-level probes (semantic class, color) and an image-level probe (object count).

    X [L, N, d] image-position residuals; labels[k] [N] (without "color", no color probe); image_of [N] image id; codes [N] VQ
    code of each patch (the control task's type); counts [n_images] objects per image.
    """
    rng = np.random.default_rng(seed)
    images = np.unique(image_of)
    train_images = rng.permutation(images)[: len(images) // 2]
    train = np.isin(image_of, train_images)
    result = {}
    for target, key in (("semantic_class", "class"), ("color", "color")):
        if key not in labels:
            continue
        result[target] = probe_target(
            X, labels[key], image_of, train, control_types=codes, seed=seed, n_boot=n_boot
        )
    # image level: mean over each image's patches, [L, n_images, d]
    pooled = np.stack([X[:, image_of == i].mean(1) for i in images], axis=1)
    result["object_count"] = probe_target(
        pooled, counts, images, np.isin(images, train_images), seed=seed, n_boot=n_boot
    )
    return result


def label_free(X: np.ndarray, y: np.ndarray, seed: int = 0) -> dict:
    return {
        "fisher": [float(v) for v in layerwise_fisher_ratio(X, y)],
        "silhouette": [float(v) for v in layerwise_silhouette(X, y, seed=seed)],
    }


def cka_by_layer(A: np.ndarray, B: np.ndarray) -> list[float]:
    return [float(v) for v in layerwise_cka(A, B)]


# --- attention ---------------------------------------------------------------------------


def attention_suite(
    runner: HookedRunner, qa_items: list[Item], qa_scenes: list, qa_objects: list[int],
    proxy_items: list[Item], batch_size: int = 32, n_boot: int = 1000, seed: int = 0,
) -> dict:  # fmt: skip
    """Attention mass by kind, entropy and grounded precision, per layer (and head).

    qa_items: understanding items; qa_objects[i] the instance id its question names (0: none).
    proxy_items: segmentation-proxy items with targets (for generated->input).
    """
    cfg = runner.cfg
    names = [pattern_name(layer) for layer in range(runner.n_layers)]
    kinds: dict[str, list[np.ndarray]] = {
        k: [] for k in ("text->image", "image->image", "text->text", "sink")
    }
    entropy, precision, chance = [], [], []
    for s, chunk, batch in runner.batches(qa_items, batch_size):
        _, cache = runner.run(batch, names)
        pattern = torch.stack([cache[n] for n in names])  # [L, B, H, T, T]
        roles = batch["roles"]
        text, image = _text_queries(roles), roles == ROLE_IMAGE
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
                    object_patches(qa_scenes[s + j], inst, cfg.patch_size)
                ).to(runner.device)
                named.append(j)
        if named:
            idx = torch.tensor(named, device=runner.device)
            gp = grounded_precision(pattern[:, idx], text[idx], image[idx], obj[idx])
            precision.append(gp.per_sample)  # [L, b]
            chance.append(grounded_chance(image[idx], obj[idx]))
    out = {"mass": {}, "entropy": _mean_samples(entropy).tolist()}
    for k, v in kinds.items():
        out["mass"][k] = _mean_samples(v).tolist()  # [L, H]
    gen = []
    for _, _, batch in runner.batches(proxy_items, batch_size):
        _, cache = runner.run(batch, names)
        pattern = torch.stack([cache[n] for n in names])
        roles = batch["roles"]
        gen.append(
            attention_mass(pattern, roles == ROLE_GENERATED, roles == ROLE_IMAGE, per_sample=True)
        )
    out["mass"]["generated->input"] = _mean_samples(gen).tolist() if gen else None
    if precision:
        per = np.concatenate(precision, axis=1)  # [L, n]
        ok = ~np.isnan(per).any(0)
        cis = [bootstrap_ci(row[ok], n_boot=n_boot, seed=seed) for row in per]
        ch = float(np.concatenate(chance)[ok].mean())
        out.update(
            grounded_precision=[c[0] for c in cis], grounded_lo=[c[1] for c in cis],
            grounded_hi=[c[2] for c in cis], grounded_chance=ch,
            grounded_ratio=[c[0] / ch for c in cis], grounded_n=int(ok.sum()),
        )  # fmt: skip
    return out


def _mean_samples(chunks: list[np.ndarray]) -> np.ndarray:
    """Concatenate per-sample [L, B, H] chunks and average over samples, ignoring NaN."""
    return np.nanmean(np.concatenate(chunks, axis=1), axis=1)


def text_image_attention(runner: HookedRunner, items: list[Item]) -> np.ndarray:
    """float16 [S, L, H, T, P]: question-token queries (padded to the longest) -> image keys."""
    cfg = runner.cfg
    names = [pattern_name(layer) for layer in range(runner.n_layers)]
    batch = next(runner.batches(items, len(items)))[2]
    _, cache = runner.run(batch, names)
    pattern = torch.stack([cache[n] for n in names], dim=1)  # [S, L, H, T, T]
    roles = batch["roles"]
    n_text = int(_text_queries(roles).sum(1).max())
    out = np.zeros((len(items), runner.n_layers, runner.n_heads, n_text, cfg.n_patches), np.float16)
    for j in range(len(items)):
        q = _text_queries(roles[j]).nonzero()[:, 0]
        k = (roles[j] == ROLE_IMAGE).nonzero()[:, 0]
        out[j, :, :, : len(q)] = pattern[j][:, :, q][:, :, :, k].cpu().numpy()
    return out


# --- knockout ----------------------------------------------------------------------------


def knockout_suite(
    runner: HookedRunner, items: list[Item], vocab, choices, window: int,
    n_boot: int = 1000, seed: int = 0,
) -> dict:  # fmt: skip
    """Relative change of p(correct answer) when text->image edges are blocked in each window."""
    model = runner.model

    def forward_with(hooks):
        def forward(batch):
            logits, _ = runner.run(batch, (), extra_hooks=hooks(batch))
            return logits

        return forward

    p_base, _ = answer_probs(model, items, vocab, choices, forward=forward_with(lambda b: []))
    windows = layer_windows(runner.n_layers, window)
    out = {"windows": [list(w) for w in windows], "center": list(range(runner.n_layers)),
           "relative_change": [], "lo": [], "hi": []}  # fmt: skip
    for first, last in windows:

        def hooks(batch, first=first, last=last):
            roles = batch["roles"]
            # the hooked scores already carry the causal mask: add only the blocked edges
            add = knockout_mask(_text_queries(roles), roles == ROLE_IMAGE, causal=False)

            def hook(scores, hook):
                return apply_knockout_to_scores(scores, add)

            return [(scores_name(layer), hook) for layer in range(first, last + 1)]

        p_new, _ = answer_probs(model, items, vocab, choices, forward=forward_with(hooks))
        rel = relative_change(p_new, p_base)
        m, lo, hi = bootstrap_ci(rel, n_boot=n_boot, seed=seed)
        out["relative_change"].append(m)
        out["lo"].append(lo)
        out["hi"].append(hi)
    return out
