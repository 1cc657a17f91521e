"""Debiased linear CKA between two sets of activations on the same inputs."""

import numpy as np
import torch


def debiased_linear_cka(X, Y, device: str = "cpu") -> float:
    """Debiased linear CKA (Kornblith et al. 2019) between X [N, d1] and Y [N, d2].

    With K = X X^T and L = Y Y^T, both with zeroed diagonals, HSIC is the unbiased estimator
    of Song et al. (2012)::

        HSIC_1(K, L) = [tr(K L) + (1^T K 1)(1^T L 1) / ((n-1)(n-2)) - 2/(n-2) 1^T K L 1]
                       / (n (n-3))
        CKA = HSIC_1(K, L) / sqrt(HSIC_1(K, K) HSIC_1(L, L))

    Every term is evaluated in feature space (no N x N matrix), in float64, after centering
    the columns (the estimator is translation invariant; centering only helps precision).
    Needs N >= 4. Rows of X and Y must be the same inputs in the same order.
    """
    X = _centered(X, device)
    Y = _centered(Y, device)
    if len(X) != len(Y) or len(X) < 4:
        raise ValueError(f"need the same N >= 4 rows, got {len(X)} and {len(Y)}")
    xy = _hsic1(X, Y)
    return float(xy / torch.sqrt(_hsic1(X, X) * _hsic1(Y, Y)))


def layerwise_cka(A, B, device: str = "cpu") -> np.ndarray:
    """``debiased_linear_cka`` between matching layers of A [L, N, d] and B [L, N, d]; [L]."""
    return np.array([debiased_linear_cka(a, b, device) for a, b in zip(A, B, strict=True)])


def _centered(X, device: str) -> torch.Tensor:
    X = torch.as_tensor(X).to(device=device, dtype=torch.float64)
    return X - X.mean(0)


def _hsic1(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC of the linear kernels of X [n, d1] and Y [n, d2] in O(n d1 d2)."""
    n = len(X)
    k_diag, l_diag = X.square().sum(1), Y.square().sum(1)  # diagonals removed from K and L
    k_rows = X @ X.sum(0) - k_diag  # K 1 with zeroed diagonal [n]
    l_rows = Y @ Y.sum(0) - l_diag
    trace_kl = (X.T @ Y).square().sum() - k_diag @ l_diag  # sum_ij K_ij L_ij, i != j
    return (
        trace_kl + k_rows.sum() * l_rows.sum() / ((n - 1) * (n - 2)) - 2 / (n - 2) * k_rows @ l_rows
    ) / (n * (n - 3))
