"""UMAP layouts: the fast path gives umap's own layout bit for bit."""

import numpy as np
import umap
from sklearn.metrics import pairwise_distances
from umap.distances import euclidean

from sgt_probe.probes.embedding import neighbors, pairwise_euclidean, umap_layout


def _points(n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 32)) * 5  # a few clusters, as class residuals form
    return (centres[rng.integers(4, size=n)] + rng.normal(size=(n, 32))).astype(np.float32)


def test_pairwise_distances_are_sklearns_bit_for_bit():
    x = _points()
    np.testing.assert_array_equal(pairwise_euclidean(x), pairwise_distances(x, metric=euclidean))


def test_neighbors_are_the_exact_nearest_ones():
    x = _points()
    knn, dist, _ = neighbors(x, 5)
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    np.testing.assert_array_equal(
        np.sort(knn, 1), np.sort(np.argsort(d, 1, kind="stable")[:, :5], 1)
    )
    np.testing.assert_allclose(dist, np.take_along_axis(d, knn, 1), rtol=1e-5, atol=1e-5)


def test_layout_is_umaps_own():
    x = _points()
    ours = umap_layout(x, seed=3, n_epochs=50)
    theirs = umap.UMAP(n_neighbors=15, min_dist=0.1, n_epochs=50, random_state=3, n_jobs=1)
    np.testing.assert_array_equal(ours, theirs.fit_transform(x).astype(np.float32))
