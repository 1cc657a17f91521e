"""Proxy-quality metrics on decoded maps, each defined on whole evaluation sets."""

from __future__ import annotations

import numpy as np


def mean_iou(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Mean over classes of IoU = |truth==c & pred==c| / |truth==c | pred==c|, pooled over all
    pixels of the set; classes absent from both truth and prediction are skipped."""
    t, p = truth.ravel().astype(np.int64), pred.ravel().astype(np.int64)
    conf = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    conf = conf.reshape(n_classes, n_classes)
    inter = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - inter
    present = union > 0
    return float((inter[present] / union[present]).mean()) if present.any() else float("nan")


def pixel_accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    return float((truth == pred).mean())


def binary_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    """F1 of the positive class over all pixels: 2TP / (2TP + FP + FN); 1.0 when both empty."""
    t, p = truth.astype(bool), pred.astype(bool)
    tp = np.sum(t & p)
    denom = 2 * tp + np.sum(~t & p) + np.sum(t & ~p)
    return 1.0 if denom == 0 else float(2 * tp / denom)
