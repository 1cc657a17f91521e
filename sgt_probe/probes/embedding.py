"""UMAP layouts of activations, without UMAP's per-process costs (docs/design.md §5).

Two costs of `umap.UMAP` that are not the layout itself are taken out, with the layout unchanged
bit for bit:

- umap compiles ~10 s of numba code in every new process (its functions are not declared
  `cache=True`); here they are cached as numba caches its own `cache=True` functions (beside the
  module when that is writable, else in the user's cache dir; NUMBA_CACHE_DIR overrides), so
  compiling is a one-time cost, redone when umap's source changes;
- for a small data set (< 4096 points) UMAP finds exact neighbours from all pairwise distances,
  which sklearn's `pairwise_distances` computes by calling umap's numba euclidean once per pair
  from Python (seconds per fit); `neighbors` computes the same matrix, bitwise, in a compiled
  loop over the same function and hands UMAP the neighbours it would have found.

Importing this module imports umap (seconds): import it where a layout is wanted.
"""

from __future__ import annotations

import warnings

import numba
import numpy as np
import umap
import umap.layouts
import umap.umap_
import umap.utils
from numba.core.registry import CPUDispatcher
from umap.distances import euclidean

for _module in (umap.umap_, umap.layouts, umap.utils):
    for _f in vars(_module).values():
        if isinstance(_f, CPUDispatcher):
            _f.enable_caching()

SMALL = 4096  # below this many points UMAP takes exact neighbours from all pairwise distances


@numba.njit(cache=True)
def pairwise_euclidean(x: np.ndarray) -> np.ndarray:
    """[n, n] umap's euclidean(x[i], x[j]) for every pair i < j, mirrored, in x's dtype: what
    `sklearn.metrics.pairwise_distances(x, metric=umap.distances.euclidean)` returns."""
    n = x.shape[0]
    out = np.zeros((n, n), dtype=x.dtype)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = euclidean(x[i], x[j])
    return out


def neighbors(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, None]:
    """The k exact nearest neighbours of each row of x [n < SMALL, d] and their distances, as
    UMAP's small-data path finds them (`umap.umap_.nearest_neighbors` on the distance matrix);
    UMAP's `precomputed_knn`."""
    dist = pairwise_euclidean(np.ascontiguousarray(x))
    knn = umap.utils.fast_knn_indices(dist, k)
    return knn, dist[np.arange(len(dist))[:, None], knn].copy(), None


def umap_layout(x: np.ndarray, seed: int, n_neighbors: int = 15, n_epochs: int = 500,
                min_dist: float = 0.1) -> np.ndarray:  # fmt: skip
    """float32 [n, 2]: UMAP of x [n, d], euclidean, seeded (so single-threaded)."""
    if len(x) >= SMALL:
        raise ValueError(f"umap_layout takes fewer than {SMALL} points, got {len(x)}")
    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, n_epochs=n_epochs,
                        random_state=seed, n_jobs=1,
                        precomputed_knn=neighbors(x, n_neighbors))  # fmt: skip
    with warnings.catch_warnings():
        # that it cannot transform new points: none are given it
        warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
        # residuals of well separated classes give a kNN graph of several components; UMAP
        # lays each out on its own (its multi-component layout), so scikit-learn's warning
        # about spectral embedding of a disconnected graph concerns a case UMAP handles
        warnings.filterwarnings("ignore", message="Graph is not fully connected",
                                category=UserWarning)  # fmt: skip
        return reducer.fit_transform(x).astype(np.float32)
