"""Debiased linear CKA between two sets of activations on the same inputs."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats


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


def resampled_cka(X, Y, groups, counts, device: str = "cpu", block: int = 256) -> np.ndarray:
    """``debiased_linear_cka`` of each resample [B]: the rows of group g (``groups`` [N]; X
    [N, d1] and Y [N, d2] rows are the same inputs) taken ``counts[b, g]`` times (int >= 0,
    groups in sorted order), each copy a sample of its own.

    Computed from per-group sums instead of the resampled rows: every term of HSIC_1 (see
    `debiased_linear_cka`) is a sum over the resample's rows or pairs of rows, so it is a
    function of the counts and of each group's X^T Y, row sums and norms. A resample costs
    O(G^2 + N (d1 + d2)) instead of O(N d1 d2).
    """
    X, Y = _centered(X, device), _centered(Y, device)
    if len(X) != len(Y):
        raise ValueError(f"need the same rows, got {len(X)} and {len(Y)}")
    _, idx = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(idx, kind="stable")  # each group's rows contiguous
    sizes = np.bincount(idx).tolist()
    X, Y = X[torch.as_tensor(order, device=device)], Y[torch.as_tensor(order, device=device)]
    idx = torch.as_tensor(idx[order], device=device)
    C = torch.as_tensor(np.asarray(counts), dtype=torch.float64, device=device)  # [B, G]
    if C.shape[1] != len(sizes):
        raise ValueError(f"counts has {C.shape[1]} groups, groups has {len(sizes)}")
    x, y = _GroupSums(X, idx, sizes), _GroupSums(Y, idx, sizes)
    terms = {k: [] for k in ("xy", "xx", "yy")}
    for s in range(0, len(C), block):
        c = C[s : s + block]
        # the sum over the resample's rows of (x_i . S_x)(y_i . S_y), S its row sums
        zx, zy = X @ (c @ x.sums).T, Y @ (c @ y.sums).T  # [N, b]
        for key, prod in (("xy", zx * zy), ("xx", zx * zx), ("yy", zy * zy)):
            per_group = prod.new_zeros(len(sizes), len(c)).index_add_(0, idx, prod)
            terms[key].append((c * per_group.T).sum(1))
    t = {k: torch.cat(v) for k, v in terms.items()}
    xy = _hsic1_resampled(C, x, y, t["xy"])
    xx = _hsic1_resampled(C, x, x, t["xx"])
    yy = _hsic1_resampled(C, y, y, t["yy"])
    return (xy / torch.sqrt(xx * yy)).cpu().numpy()


def jackknife_cka(X, Y, groups, alpha: float = 0.05, device: str = "cpu"
                  ) -> tuple[float, float, float]:  # fmt: skip
    """``debiased_linear_cka`` of X [N, d1] and Y [N, d2] with a (1 - alpha) delete-one-group
    jackknife interval over ``groups`` [N] (e.g. scenes): cka +- t_{G-1} * SE, with SE^2 =
    (G - 1) / G * sum_g (cka_(g) - mean)^2 over the estimates cka_(g) that leave group g out
    (the jackknife of U-statistics, Arvesen 1969). Returns (cka, lo, hi).

    Not a bootstrap: a resample drawn with replacement holds some groups twice, and a row's
    copy then pairs with it as the row itself would, the very pairs the debiased estimator
    leaves out; on 160 groups of 64 noisy rows that lifted every replicate above the estimate
    (interval 0.493-0.497 around 0.489). Leaving one group out copies nothing.
    """
    n_groups = len(np.unique(np.asarray(groups)))
    if n_groups < 3:
        raise ValueError(f"need at least 3 groups for a jackknife interval, got {n_groups}")
    # the first "resample" is every group once: the estimate itself
    counts = np.vstack([np.ones(n_groups), 1 - np.eye(n_groups)])
    value, *leave_one_out = resampled_cka(X, Y, groups, counts, device)
    reps = np.asarray(leave_one_out)
    se = np.sqrt((n_groups - 1) / n_groups * np.sum((reps - reps.mean()) ** 2))
    half = float(stats.t.ppf(1 - alpha / 2, n_groups - 1) * se)
    return float(value), float(value - half), float(value + half)


class _GroupSums:
    """Per group of the rows of X [N, d] (sorted by group, `sizes` rows each): its row count
    [G], row sum [G, d], sum of squared norms k_i = |x_i|^2 [G], and what pairing it with
    another matrix of the same rows needs (`pair`)."""

    def __init__(self, X: torch.Tensor, idx: torch.Tensor, sizes: list[int]):
        self.X, self.idx, self.sizes = X, idx, sizes
        self.norms = X.square().sum(1)
        self.rows = torch.as_tensor(sizes, dtype=X.dtype, device=X.device)
        self.sums = self._add(X)
        self.k = self._add(self.norms)

    def _add(self, values: torch.Tensor) -> torch.Tensor:
        out = values.new_zeros((len(self.sizes), *values.shape[1:]))
        return out.index_add_(0, self.idx, values)

    def pair(self, other: _GroupSums):
        """(Gram [G, G] of the groups' X_g^T Y_g under the Frobenius product; per group the
        sums of k_i l_i [G], l_i x_i [G, d1] and k_i y_i [G, d2]), Y = other's rows."""
        blocks = zip(self.X.split(self.sizes), other.X.split(self.sizes), strict=True)
        M = torch.stack([(a.T @ b).reshape(-1) for a, b in blocks])  # [G, d1 d2]
        kl = self._add(self.norms * other.norms)
        lx = self._add(other.norms[:, None] * self.X)
        ky = self._add(self.norms[:, None] * other.X)
        return M @ M.T, kl, lx, ky


def _hsic1_resampled(C: torch.Tensor, x: _GroupSums, y: _GroupSums, t: torch.Tensor
                     ) -> torch.Tensor:  # fmt: skip
    """HSIC_1 of each resample [B] (the terms of `_hsic1`, from per-group sums).

    C [B, G] counts; t [B] the sum over the resample's rows of (x_i . S_x)(y_i . S_y), S_x
    and S_y the resample's row sums."""
    G, kl, lx, ky = x.pair(y)
    n = C @ x.rows
    Sx, Sy = C @ x.sums, C @ y.sums  # [B, d]
    trace_kl = ((C @ G) * C).sum(1) - C @ kl  # sum over pairs i != j of K_ij L_ij
    k_sum = Sx.square().sum(1) - C @ x.k  # 1^T K 1, diagonal removed
    l_sum = Sy.square().sum(1) - C @ y.k
    # sum_i (K 1)_i (L 1)_i, diagonals removed: (K 1)_i = x_i . S_x - |x_i|^2
    kl_rows = t - (Sx * (C @ lx)).sum(1) - (Sy * (C @ ky)).sum(1) + C @ kl
    return (trace_kl + k_sum * l_sum / ((n - 1) * (n - 2)) - 2 / (n - 2) * kl_rows) / (n * (n - 3))
