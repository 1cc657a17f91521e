"""Debiased linear CKA against a direct O(n^2) evaluation of the published formula: the estimate,
its value on the rows of all groups but one, and the jackknife interval built from those."""

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.stats import ortho_group

from sgt_probe.probes import debiased_linear_cka, layerwise_cka
from sgt_probe.probes.cka import jackknife_cka, leave_one_group_out_cka


def _hsic1_direct(K: np.ndarray, L: np.ndarray) -> float:
    n = len(K)
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    one = np.ones(n)
    return (
        np.trace(K @ L)
        + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
        - 2 / (n - 2) * one @ K @ L @ one
    ) / (n * (n - 3))


def _cka_direct(X: np.ndarray, Y: np.ndarray) -> float:
    K, L = X @ X.T, Y @ Y.T
    return _hsic1_direct(K, L) / np.sqrt(_hsic1_direct(K, K) * _hsic1_direct(L, L))


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 12)) + 3.0  # an offset: the estimator must not care
    Y = X[:, :7] @ rng.normal(size=(7, 9)) + rng.normal(size=(60, 9))
    return X, Y


def test_matches_direct_formula(pair):
    X, Y = pair
    assert debiased_linear_cka(X, Y) == pytest.approx(_cka_direct(X, Y), rel=1e-9)
    Z = np.random.default_rng(1).normal(size=X.shape)
    assert debiased_linear_cka(X, Z) == pytest.approx(_cka_direct(X, Z), rel=1e-9, abs=1e-12)


def test_identical_inputs_give_one(pair):
    X, _ = pair
    assert debiased_linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)


def test_invariant_to_orthogonal_maps_and_isotropic_scaling(pair):
    X, Y = pair
    Q = ortho_group.rvs(Y.shape[1], random_state=0)
    base = debiased_linear_cka(X, Y)
    assert debiased_linear_cka(X, 7.5 * Y @ Q) == pytest.approx(base, rel=1e-9)


def test_independent_inputs_are_near_zero():
    rng = np.random.default_rng(2)
    assert abs(debiased_linear_cka(rng.normal(size=(4000, 8)), rng.normal(size=(4000, 8)))) < 0.02


def test_layerwise_accepts_tensors_and_matches_per_layer(pair):
    X, Y = pair
    Y = Y @ np.random.default_rng(3).normal(size=(Y.shape[1], X.shape[1]))  # stackable with X
    A = torch.tensor(np.stack([X, X]), dtype=torch.float32)
    B = torch.tensor(np.stack([Y, X]), dtype=torch.float32)
    scores = layerwise_cka(A, B)
    assert scores.shape == (2,)
    assert scores[0] == pytest.approx(_cka_direct(X, Y), rel=1e-4)
    assert scores[1] == pytest.approx(1.0, abs=1e-6)


def _grouped(seed: int = 4, n_groups: int = 10):
    """Groups of 4 to 8 rows, interleaved, with ids that are not 0..G-1."""
    rng = np.random.default_rng(seed)
    groups = rng.permutation(np.repeat(np.arange(n_groups) * 3, rng.integers(4, 9, n_groups)))
    X = rng.normal(size=(len(groups), 9)) + 1.5
    Y = X[:, :5] @ rng.normal(size=(5, 7)) + 2.0 * rng.normal(size=(len(X), 7))
    return X, Y, groups


def test_jackknife_interval_is_t_times_the_leave_one_group_out_spread():
    X, Y, groups = _grouped()
    ids = np.unique(groups)
    loo = np.array([_cka_direct(X[groups != g], Y[groups != g]) for g in ids])
    whole, each = leave_one_group_out_cka(X, Y, groups)
    assert whole == pytest.approx(_cka_direct(X, Y), rel=1e-9)
    np.testing.assert_allclose(each, loo, rtol=1e-9)  # groups in sorted order
    se = np.sqrt((len(ids) - 1) / len(ids) * np.sum((loo - loo.mean()) ** 2))
    half = stats.t.ppf(0.975, len(ids) - 1) * se
    value, lo, hi = jackknife_cka(X, Y, groups)
    assert value == pytest.approx(_cka_direct(X, Y), rel=1e-9)
    assert (lo, hi) == (
        pytest.approx(value - half, rel=1e-8),
        pytest.approx(value + half, rel=1e-8),
    )


def test_jackknife_interval_covers_the_population_cka_about_as_often_as_it_says():
    """Scenes of correlated patches: 200 samples from one model, each with its interval; the
    population value is the CKA of a very large sample."""
    rng = np.random.default_rng(6)
    A = rng.normal(size=(6, 8))

    def sample(n_groups: int):
        scene = np.repeat(rng.normal(size=(n_groups, 6)), 8, axis=0)  # shared within a scene
        Z = scene + rng.normal(size=(len(scene), 6))
        return Z, Z @ A + 3.0 * rng.normal(size=(len(Z), 8)), np.repeat(np.arange(n_groups), 8)

    X, Y, _ = sample(4000)
    truth = debiased_linear_cka(X, Y)
    hits = [lo <= truth <= hi for lo, hi in (jackknife_cka(*sample(30))[1:] for _ in range(200))]
    assert 0.88 <= np.mean(hits) <= 0.99


def test_two_groups_give_the_estimate_without_an_interval():
    X, Y, groups = _grouped(n_groups=2)
    value, lo, hi = jackknife_cka(X, Y, groups)
    assert value == pytest.approx(_cka_direct(X, Y), rel=1e-9) and np.isnan(lo) and np.isnan(hi)
