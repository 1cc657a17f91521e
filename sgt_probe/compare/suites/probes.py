"""The probes suite: how linearly separable the image-position residuals are, per layer.

Patch-level probes (semantic class, color) with a control task, an image-level probe (object
count) and two label-free scores (Fisher ratio, silhouette); definitions in
`sgt_probe.report.schema.DEFINITIONS["probes"]`.
"""

from __future__ import annotations

import numpy as np

from sgt_probe.compare.inputs import Inputs
from sgt_probe.probes.logistic import LayerwiseProbe
from sgt_probe.probes.separability import layerwise_fisher_ratio, layerwise_silhouette
from sgt_probe.probes.stats import bootstrap_ci, control_labels
from sgt_probe.report.schema import LabelFree, ProbeResult, Probes

NAME = "probes"


def probe_target(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, train: np.ndarray, control_types=None,
    Cs=(0.1, 1.0, 10.0), n_folds: int = 3, n_boot: int = 1000, seed: int = 0, max_iter: int = 50,
) -> ProbeResult:  # fmt: skip
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
    accuracy = [c[0] for c in cis]
    control = selectivity = None
    if control_types is not None:
        yc = control_labels(control_types, len(np.unique(y)), seed=seed, labels=y)
        cprobe = LayerwiseProbe(Cs=Cs, n_folds=n_folds, max_iter=max_iter, seed=seed)
        cacc = cprobe.fit(X[:, train], yc[train], groups[train]).score(X[:, test], yc[test])
        control = [float(a) for a in cacc]
        selectivity = [a - c for a, c in zip(accuracy, control, strict=True)]
    return ProbeResult(
        accuracy=accuracy, lo=[c[1] for c in cis], hi=[c[2] for c in cis],
        C=[float(c) for c in probe.C_], majority=majority, control=control,
        selectivity=selectivity,
    )  # fmt: skip


def probe_targets(X: np.ndarray, labels: dict, image_of: np.ndarray, codes: np.ndarray,
                  counts: np.ndarray, seed: int = 0, n_boot: int = 1000) -> dict[str, ProbeResult]:  # fmt: skip
    """Patch-level probes (semantic class, color) and an image-level probe (object count).

    X [L, N, d] image-position residuals; labels[k] [N] (without "color": no color probe);
    image_of [N] image id; codes [N] VQ code of each patch (the control task's type); counts
    [n_images] objects per image.
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


def label_free(X: np.ndarray, y: np.ndarray, seed: int = 0) -> LabelFree:
    return LabelFree(
        fisher=[float(v) for v in layerwise_fisher_ratio(X, y)],
        silhouette=[float(v) for v in layerwise_silhouette(X, y, seed=seed)],
    )


def run(inputs: Inputs, arrays: dict[str, np.ndarray]) -> Probes:
    items, cfg = inputs.probe, inputs.cfg
    labels = {k: items.flat(k) for k in items.labels}
    world = inputs.world
    if not world.colors:  # a folder world's objects have no color words: nothing to probe
        inputs.skip("color probe", f"the {world.name!r} world gives its objects no colors")
        del labels["color"]
    codes = items.data.codes.reshape(-1)
    counts = np.array([len(s.objects) for s in items.data.scenes])
    targets, scores = {}, {}
    for name in inputs.names:
        X = inputs.residuals(name)
        targets[name] = probe_targets(X, labels, items.image_of, codes, counts, seed=cfg.seed,
                                      n_boot=cfg.n_boot)  # fmt: skip
        scores[name] = label_free(X, labels["class"], seed=cfg.seed)
    return Probes(targets=targets, label_free=scores)
