"""Debiased linear CKA against a direct O(n^2) evaluation of the published formula."""

import numpy as np
import pytest
import torch
from scipy.stats import ortho_group

from sgt_probe.probes import debiased_linear_cka, layerwise_cka


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
