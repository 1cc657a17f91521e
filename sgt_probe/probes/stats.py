"""Uncertainty and controls for probe results: bootstrap CIs, paired deltas, control tasks."""

import numpy as np

# Resample counts are drawn in blocks of at most this many entries to bound memory.
_BLOCK_ENTRIES = 2**24


def bootstrap_ci(
    values, groups=None, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Mean of ``values`` [N] with a percentile bootstrap (1 - alpha) interval.

    Without ``groups`` items are resampled independently. With ``groups`` [N] (e.g. image id)
    whole groups are resampled with replacement (cluster bootstrap) and each replicate is the
    mean over all items of the drawn groups, so within-image correlation widens the interval
    as it should. Returns (mean of values, lo, hi).
    """
    values = np.asarray(values, dtype=np.float64)
    reps = _bootstrap_ratios(values[:, None], np.ones((len(values), 1)), groups, n_boot, seed)
    lo, hi = np.quantile(reps[:, 0], [alpha / 2, 1 - alpha / 2])
    return float(values.mean()), float(lo), float(hi)


def balanced_accuracy(correct, labels) -> float:
    """Mean over the classes present in ``labels`` [N] of the share of their rows that are
    ``correct`` [N] (each class's recall): the commonest class counts no more than the rarest,
    and any constant answer scores 1 / (number of classes present)."""
    correct, labels = np.asarray(correct, dtype=np.float64), np.asarray(labels)
    return float(np.mean([correct[labels == c].mean() for c in np.unique(labels)]))


def bootstrap_balanced_ci(
    correct, labels, groups=None, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """``balanced_accuracy`` of correct [N] under labels [N], with a percentile bootstrap
    (1 - alpha) interval resampling items, or whole ``groups`` [N] (cluster bootstrap, as
    `bootstrap_ci`). A replicate averages the recall of the classes its draw holds.
    Returns (balanced accuracy, lo, hi)."""
    correct = np.asarray(correct, dtype=np.float64)
    _, class_idx = np.unique(np.asarray(labels), return_inverse=True)
    member = np.eye(class_idx.max() + 1)[class_idx]  # [N, C] one-hot class of each item
    reps = _bootstrap_ratios(correct[:, None] * member, member, groups, n_boot, seed)
    with np.errstate(invalid="ignore"):  # a class no drawn group holds: 0 / 0, left out
        per_replicate = np.nanmean(reps, axis=1)
    lo, hi = np.quantile(per_replicate, [alpha / 2, 1 - alpha / 2])
    return balanced_accuracy(correct, labels), float(lo), float(hi)


def paired_bootstrap_delta(
    a, b, groups=None, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Paired comparison of two checkpoints scored on the same items a [N], b [N].

    Each replicate resamples the same items (or groups) for both, so the interval is that of
    mean(b) - mean(a) under pairing. Returns (delta = mean(b) - mean(a), lo, hi).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal shapes, got {a.shape} and {b.shape}")
    # The mean of differences over a shared resample is the difference of the two means.
    return bootstrap_ci(b - a, groups, n_boot, seed, alpha)


def paired_change_pct(a, b, groups=None, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
                  ) -> tuple[float, float, float]:  # fmt: skip
    """100 * (mean(b) - mean(a)) / mean(a) for values of two checkpoints on the same items
    a [N], b [N], with a paired percentile bootstrap interval (items, or whole `groups`,
    resampled together for both). Returns (change %, lo, hi)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal shapes, got {a.shape} and {b.shape}")
    means = _bootstrap_ratios(np.stack([a, b], axis=1), np.ones((len(a), 2)), groups, n_boot,
                              seed)  # fmt: skip
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = 100 * (means[:, 1] / means[:, 0] - 1)
        change = 100 * (b.mean() / a.mean() - 1)
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return float(change), float(lo), float(hi)


def _bootstrap_ratios(sums, sizes, groups, n_boot: int, seed: int) -> np.ndarray:
    """[n_boot, C]: per replicate, sum(sums[:, c]) / sum(sizes[:, c]) over the drawn items or
    groups, from a [n_boot, n_groups] matrix of resample counts. sums, sizes [N, C]."""
    if groups is None:
        group_idx = np.arange(len(sums))
    else:
        _, group_idx = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = group_idx.max() + 1

    def per_group(x: np.ndarray) -> np.ndarray:  # [N, C] -> [n_groups, C] summed by group
        return np.stack([np.bincount(group_idx, weights=col, minlength=n_groups) for col in x.T],
                        axis=1)  # fmt: skip

    sums, sizes = per_group(sums), per_group(sizes)
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_ENTRIES // n_groups)
    reps = []
    for start in range(0, n_boot, block):
        rows = min(block, n_boot - start)
        draws = rng.integers(0, n_groups, size=(rows, n_groups))
        # Offsetting each row's draws lets one bincount build the whole count matrix.
        flat = (draws + n_groups * np.arange(rows)[:, None]).ravel()
        counts = np.bincount(flat, minlength=rows * n_groups).reshape(rows, n_groups)
        with np.errstate(invalid="ignore"):
            reps.append((counts @ sums) / (counts @ sizes))
    return np.concatenate(reps)


def control_labels(types, n_classes: int, seed: int = 0, labels=None) -> np.ndarray:
    """Hewitt & Liang (2019) control task: a fixed random label per type.

    Each distinct value of ``types`` [N] (VQ code or patch type) is assigned one label in
    [0, n_classes), independently of everything else, so the control labels are a function of
    the type alone and a probe can only score by memorising types. Labels are drawn from the
    empirical class distribution of ``labels`` [N] (the real task labels, in [0, n_classes))
    when given, else uniformly. Returns int64 [N].
    """
    uniq, type_idx = np.unique(np.asarray(types), return_inverse=True)
    if labels is None:
        probs = np.full(n_classes, 1.0 / n_classes)
    else:
        counts = np.bincount(np.asarray(labels), minlength=n_classes)
        probs = counts / counts.sum()
    per_type = np.random.default_rng(seed).choice(n_classes, size=len(uniq), p=probs)
    return per_type[type_idx].astype(np.int64)


def selectivity(task_acc, control_acc):
    """Hewitt & Liang selectivity: task accuracy - control-task accuracy (elementwise)."""
    return np.asarray(task_acc) - np.asarray(control_acc)
