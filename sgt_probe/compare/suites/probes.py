"""The probes suite: how linearly separable the image-position residuals are, per layer.

As the paper means it: whether the *objects'* classes (and colors) can be read off their
patches, so the patch-level probes see object patches only and are scored by balanced accuracy
beside its 1/K floor. Over all patches, four in five are background and a probe that only
tells object from background scored within a point of always answering "background"; that
probe is not kept. Besides: an image-level probe (object count, over all of an image's
patches), a control task per patch-level probe, and two label-free scores (Fisher ratio,
silhouette) of the object patches; definitions in `sgt_probe.report.schema.DEFINITIONS`.
"""

from __future__ import annotations

import numpy as np

from sgt_probe.compare import PROBE_FOLDS
from sgt_probe.compare.inputs import Inputs
from sgt_probe.probes.logistic import LayerwiseProbe
from sgt_probe.probes.separability import layerwise_fisher_ratio, layerwise_silhouette
from sgt_probe.probes.stats import balanced_accuracy, bootstrap_balanced_ci, control_labels
from sgt_probe.report.schema import LabelFree, ProbeResult, Probes

NAME = "probes"


def probe_target(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, train: np.ndarray, control_types=None,
    Cs=(0.1, 1.0, 10.0), n_folds: int = PROBE_FOLDS, n_boot: int = 1000, seed: int = 0,
    max_iter: int = 50, device: str | None = None,
) -> ProbeResult:  # fmt: skip
    """Fit on the `train` rows (grouped CV for C), score the others; X [L, N, d].

    The score is balanced accuracy with a cluster-bootstrap CI over `groups`; its floor is 1/K
    for the K classes among the held-out rows, what any constant answer scores. `majority`
    is the held-out plain accuracy of always answering the training rows' commonest label.
    """
    test = ~train
    values, counts = np.unique(y[train], return_counts=True)
    majority = float(np.mean(y[test] == values[np.argmax(counts)]))
    n_classes = len(np.unique(y[test]))

    def fit(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The C chosen per layer [L] and the held-out predictions [L, n_test] of a probe of
        `labels`."""
        probe = LayerwiseProbe(Cs=Cs, n_folds=n_folds, max_iter=max_iter, seed=seed,
                               device=device)  # fmt: skip
        probe.fit(X[:, train], labels[train], groups[train])
        return probe.C_, probe.predict(X[:, test])

    C, predicted = fit(y)
    cis = [bootstrap_balanced_ci(p == y[test], y[test], groups[test], n_boot=n_boot, seed=seed)
           for p in predicted]  # fmt: skip
    accuracy = [c[0] for c in cis]
    control = selectivity = None
    if control_types is not None:
        _, y_idx = np.unique(y, return_inverse=True)
        yc = control_labels(control_types, y_idx.max() + 1, seed=seed, labels=y_idx)
        control = [balanced_accuracy(p == yc[test], yc[test]) for p in fit(yc)[1]]
        selectivity = [a - c for a, c in zip(accuracy, control, strict=True)]
    return ProbeResult(
        metric="balanced_accuracy", accuracy=accuracy, lo=[c[1] for c in cis],
        hi=[c[2] for c in cis], C=[float(c) for c in C], floor=1.0 / n_classes, n_classes=n_classes,
        majority=majority, control=control, selectivity=selectivity,
    )  # fmt: skip


def probe_targets(X: np.ndarray, labels: dict, image_of: np.ndarray, codes: np.ndarray,
                  counts: np.ndarray, seed: int = 0, n_boot: int = 1000,
                  device: str | None = None) -> dict[str, ProbeResult]:  # fmt: skip
    """Patch-level probes (semantic class, color) over object patches and an image-level probe
    (object count) over every patch of an image.

    X [L, N, d] image-position residuals; labels[k] [N] (without "color": no color probe), 0
    for a background patch; image_of [N] image id; codes [N] VQ code of each patch (the control
    task's type); counts [n_images] objects per image.
    """
    rng = np.random.default_rng(seed)
    images = np.unique(image_of)
    train_images = rng.permutation(images)[: len(images) // 2]
    train = np.isin(image_of, train_images)
    result = {}
    for target, key in (("semantic_class", "class"), ("color", "color")):
        if key not in labels:
            continue
        # an object patch: its label is an object's (0 is background; a patch whose majority
        # class is an object's but whose majority instance is background has no color)
        obj = labels[key] > 0
        result[target] = probe_target(
            X[:, obj], labels[key][obj], image_of[obj], train[obj], control_types=codes[obj],
            seed=seed, n_boot=n_boot, device=device,
        )  # fmt: skip
    # image level: mean over each image's patches, [L, n_images, d]
    pooled = np.stack([X[:, image_of == i].mean(1) for i in images], axis=1)
    result["object_count"] = probe_target(pooled, counts, images, np.isin(images, train_images),
                                          seed=seed, n_boot=n_boot, device=device)  # fmt: skip
    return result


def label_free(X: np.ndarray, y: np.ndarray, seed: int = 0) -> LabelFree:
    """Fisher ratio and silhouette of the object patches (y > 0) by class."""
    obj = y > 0
    return LabelFree(
        fisher=[float(v) for v in layerwise_fisher_ratio(X[:, obj], y[obj])],
        silhouette=[float(v) for v in layerwise_silhouette(X[:, obj], y[obj], seed=seed)],
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
                                      n_boot=cfg.n_boot, device=cfg.device)  # fmt: skip
        scores[name] = label_free(X, labels["class"], seed=cfg.seed)
    return Probes(targets=targets, label_free=scores)
