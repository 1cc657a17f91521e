"""Probe-free separability scores (docs/design.md §5): class geometry, no fitted model."""

import numpy as np
from sklearn.metrics import silhouette_score


def fisher_ratio(X, y) -> float:
    """Fisher ratio tr(S_B) / tr(S_W) of features X [N, d] under labels y [N].

    With class means mu_c, class sizes n_c and overall mean mu::

        tr(S_B) = sum_c n_c ||mu_c - mu||^2
        tr(S_W) = sum_i ||x_i - mu_{y_i}||^2

    i.e. between-class over within-class scatter; 0 when class means coincide, large when
    classes are tight and far apart. Invariant to rotation, translation and isotropic scaling.
    """
    X = np.asarray(X, dtype=np.float64)
    _, y_idx = np.unique(np.asarray(y), return_inverse=True)
    members = np.zeros((y_idx.max() + 1, len(y_idx)))
    members[y_idx, np.arange(len(y_idx))] = 1.0
    sizes = members.sum(1)
    class_means = members @ X / sizes[:, None]
    between = (sizes * np.square(class_means - X.mean(0)).sum(1)).sum()
    within = np.square(X - class_means[y_idx]).sum()
    return float(between / within)


def silhouette(X, y, max_n: int = 2000, seed: int = 0, metric: str = "cosine") -> float:
    """Mean silhouette coefficient of X [N, d] under labels y [N], in [-1, 1].

    Computed on a uniform random subsample of at most ``max_n`` rows (the score is O(n^2)).
    Distance is cosine by default: residual-stream norms vary with position and a few outlier
    dimensions, which would dominate euclidean distances; pass ``metric="euclidean"`` to
    change. NaN when the subsample holds fewer than two classes (or only singletons).
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(y) > max_n:
        keep = np.random.default_rng(seed).choice(len(y), size=max_n, replace=False)
        X, y = X[keep], y[keep]
    if not 2 <= len(np.unique(y)) < len(y):
        return float("nan")
    return float(silhouette_score(X, y, metric=metric))


def layerwise_fisher_ratio(X, y) -> np.ndarray:
    """``fisher_ratio`` of each layer of X [L, N, d]; returns [L]."""
    return np.array([fisher_ratio(x, y) for x in X])


def layerwise_silhouette(X, y, **kwargs) -> np.ndarray:
    """``silhouette`` of each layer of X [L, N, d] on the same subsample; returns [L]."""
    return np.array([silhouette(x, y, **kwargs) for x in X])
