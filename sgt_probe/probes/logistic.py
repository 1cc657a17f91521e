"""Layer-wise linear probes: multinomial logistic regression fitted for every layer at once.

One call fits every (layer, fold, C) problem as a single batch of independent convex problems,
so the grouped cross-validation over the C grid costs a handful of large matrix products per
iteration instead of hundreds of small scikit-learn fits.
"""

from collections import deque
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from sgt_probe.device import default_device

Objective = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class LayerwiseProbe(BaseEstimator):
    """Multinomial logistic regression per layer, L2 strength chosen by grouped cross-validation.

    A scikit-learn estimator (`get_params`, `clone`, `check_is_fitted` work), except that its
    inputs carry a leading layer axis and it scores per layer: `layer_scores` returns [L]
    accuracies where a plain classifier's `score` would return one.

    For each layer the objective is scikit-learn's
    ``LogisticRegression(C=C)`` multinomial objective on standardized features::

        sum_i CE(softmax(W^T x_i + b), y_i) + 0.5 / C * ||W||_F^2

    (the bias is not penalised), minimised by full-batch L-BFGS; the model is therefore the
    same as ``make_pipeline(StandardScaler(), LogisticRegression(C=C))``. Every fit
    standardizes each layer with the mean and standard deviation of its own training rows,
    cross-validation folds included. Two classes are fitted as a two-column softmax, not as
    scikit-learn's single-column binary model.

    Parameters
    ----------
    Cs : inverse regularization strengths to choose from; ties go to the earlier entry.
    n_folds : number of GroupKFold folds; no group (image) is ever in both train and validation.
    max_iter, tol : L-BFGS iteration cap and gradient tolerance (max |grad| of the objective
        divided by the number of samples, as scikit-learn's ``tol``).
    device : torch device; default "cuda" if available, else "cpu". Computation is float32.
    seed : shuffles the assignment of groups to folds; the optimisation itself is deterministic
        (zero initialisation, full batch).

    Attributes
    ----------
    classes_ : [K] sorted class labels.
    cv_scores_ : [L, nC] mean validation accuracy over folds.
    C_ : [L] chosen C per layer.
    mean_, scale_ : [L, d] standardization statistics of the data given to ``fit``.
    coef_ : [L, d, K] weights acting on standardized features ``(X - mean_) / scale_``.
    intercept_ : [L, K].
    n_iter_ : [L] L-BFGS iterations of the final refit.
    """

    def __init__(
        self,
        Cs=(0.01, 0.1, 1, 10),
        n_folds: int = 5,
        max_iter: int = 100,
        tol: float = 1e-6,
        device: str | None = None,
        seed: int = 0,
    ):
        self.Cs = Cs
        self.n_folds = n_folds
        self.max_iter = max_iter
        self.tol = tol
        self.device = device
        self.seed = seed

    def fit(self, X, y, groups) -> "LayerwiseProbe":
        """Fit on X [L, N, d], y [N] (any int labels) and groups [N] (image id per row)."""
        y, groups = np.asarray(y), np.asarray(groups)
        if np.ndim(X) != 3 or not len(y) == len(groups) == np.shape(X)[1]:
            raise ValueError(
                f"need X [L, N, d], y [N], groups [N]; got {tuple(np.shape(X))}, "
                f"{y.shape}, {groups.shape}"
            )
        Xt, mean, scale = _standardize(X, self._device())
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        n_layers, n, _ = Xt.shape
        Cs = np.asarray(self.Cs, dtype=np.float64)
        labels = torch.as_tensor(y_idx, device=Xt.device)
        fit = partial(
            _fit_problems, Xt, labels, len(self.classes_), max_iter=self.max_iter, tol=self.tol
        )

        # Every (fold, C) pair is one problem; problem p = fold * nC + c.
        train = group_fold_masks(groups, self.n_folds, self.seed).astype(np.float32)
        weights = torch.as_tensor(np.repeat(train, len(Cs), axis=0), device=Xt.device)
        W, b, _ = fit(weights, np.tile(1.0 / Cs, (n_layers, self.n_folds)))
        correct = _predict_idx(Xt, W, b) == labels[None, :, None]  # [L, N, P]
        valid = 1.0 - weights.T  # [N, P]
        fold_acc = (correct * valid).sum(1) / valid.sum(0)  # [L, P]
        self.cv_scores_ = fold_acc.view(n_layers, self.n_folds, len(Cs)).mean(1).cpu().numpy()
        self.C_ = Cs[self.cv_scores_.argmax(1)]

        W, b, n_iter = fit(torch.ones(1, n, device=Xt.device), 1.0 / self.C_[:, None])
        self.mean_, self.scale_ = mean.cpu().numpy(), scale.cpu().numpy()
        self.coef_ = W[:, 0].cpu().numpy()
        self.intercept_ = b[:, 0].cpu().numpy()
        self.n_iter_ = n_iter[:, 0].cpu().numpy()
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted class labels [L, N]."""
        check_is_fitted(self)
        device = self._device()
        Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
        mean = torch.as_tensor(self.mean_, device=device)[:, None]
        scale = torch.as_tensor(self.scale_, device=device)[:, None]
        W = torch.as_tensor(self.coef_, device=device)[:, None]  # [L, 1, d, K]
        b = torch.as_tensor(self.intercept_, device=device)[:, None]
        idx = _predict_idx((Xt - mean) / scale, W, b)[..., 0]
        return self.classes_[idx.cpu().numpy()]

    def layer_scores(self, X, y) -> np.ndarray:
        """Accuracy per layer [L] (higher is better)."""
        return (self.predict(X) == np.asarray(y)[None]).mean(1)

    def _device(self) -> str:
        return self.device or default_device()


def group_fold_masks(groups, n_folds: int, seed: int = 0) -> np.ndarray:
    """Training-row masks [n_folds, N] of grouped K-fold CV (``GroupKFold``, groups shuffled).

    Every group is in the validation part of exactly one fold and never split across parts.
    """
    groups = np.asarray(groups)
    cv = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    train = np.zeros((n_folds, len(groups)), dtype=bool)
    for f, (train_idx, _) in enumerate(cv.split(groups, groups=groups)):
        train[f, train_idx] = True
    return train


def _standardize(X, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-layer standardized float32 copy [L, N, d] on device, with its mean and std [L, d].

    Statistics are accumulated in float64 one layer at a time: residual streams have dimensions
    whose mean dwarfs their spread. Each problem later re-standardizes with its own training
    rows; on top of this global step those corrections stay near (0, 1), so float32 suffices.
    """
    X = torch.as_tensor(X, dtype=torch.float32, device=device)
    mean = torch.stack([x.mean(0, dtype=torch.float64) for x in X])
    scale = torch.stack([x.double().std(0, correction=0) for x in X])
    scale[scale == 0] = 1.0
    mean, scale = mean.float(), scale.float()
    return (X - mean[:, None]) / scale[:, None], mean, scale


def _predict_idx(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Argmax class index [L, N, P] for X [L, N, d], W [L, P, d, K], b [L, P, K]."""
    n_layers, n_problems, d, k = W.shape
    logits = torch.bmm(X, W.permute(0, 2, 1, 3).reshape(n_layers, d, n_problems * k))
    return (logits.view(n_layers, -1, n_problems, k) + b[:, None]).argmax(-1)


def _fit_problems(X, labels, n_classes, weights, inv_C, max_iter, tol):
    """Fit independent softmax regressions for every layer and every problem p.

    X [L, N, d] features, labels [N] class indices, weights [P, N] 0/1 training rows of each
    problem, inv_C [L, P] penalties 1/C. Each (layer, p) problem is standardized with the
    mean/std of its training rows and penalised in that standardized space.
    Returns W [L, P, d, K] and b [L, P, K] acting on X itself, and iteration counts [L, P].
    """
    n_layers, _, d = X.shape
    n_problems, k = weights.shape[0], n_classes
    n_train = weights.sum(1)  # [P]
    mean = torch.stack([weights @ x for x in X]) / n_train[:, None]  # [L, P, d]
    var = torch.stack([weights @ x.square() for x in X]) / n_train[:, None] - mean.square()
    scale = var.clamp_min(0).sqrt()
    scale[scale < 1e-6] = 1.0
    # sklearn's objective divided by n_train: same minimiser, and tol means what it means there.
    row_w = (weights / n_train[:, None]).T  # [N, P]
    lam = torch.as_tensor(inv_C, dtype=X.dtype, device=X.device) / n_train  # [L, P]
    target = labels[:, None, None]  # [N, 1, 1]

    def unpack(theta, layer, probs):
        """Standardized-space (W, b) of some problems -> W [R, d, K], W_x, b_x acting on X."""
        W = theta[:, : d * k].view(-1, d, k)
        W_x = W / scale[layer, probs, :, None]
        return W, W_x, theta[:, d * k :] - torch.einsum("rd,rdk->rk", mean[layer, probs], W_x)

    def layer_objective(theta, layer, probs):
        """Objective [R] and gradient [R, (d+1)K] of problems ``probs`` of one layer."""
        W, W_x, b_x = unpack(theta, layer, probs)
        n_rows = len(probs)
        # Class-major columns [N, K, R]: reductions over a middle axis are much faster on CPU
        # than over a short last one. The softmax is done in place to spare memory passes.
        z = torch.addmm(b_x.T.reshape(1, -1), X[layer], W_x.permute(1, 2, 0).reshape(d, -1))
        z = z.view(-1, k, n_rows)
        z_true = z.take_along_dim(target, 1)  # [N, 1, R]
        z_max = z.amax(1, keepdim=True)
        p = z.sub_(z_max).exp_()
        norm = p.sum(1, keepdim=True)
        w = row_w[:, None, probs]  # [N, 1, R]
        ce = norm.log() + z_max - z_true  # -log softmax of the true class
        f = (ce * w).sum((0, 1)) + 0.5 * lam[layer, probs] * W.square().sum((1, 2))
        resid = p.mul_(w / norm).scatter_add_(1, target.expand(-1, 1, n_rows), -w)
        # resid = w * (softmax - onehot) = d loss / d logits [N, K, R]
        xt_r = (X[layer].T @ resid.view(-1, k * n_rows)).view(d, k, n_rows).permute(2, 0, 1)
        g_b = resid.sum(0).T  # [R, K]
        g_W = (xt_r - mean[layer, probs, :, None] * g_b[:, None]) / scale[layer, probs, :, None]
        g_W += lam[layer, probs, None, None] * W
        return f, torch.cat([g_W.reshape(n_rows, -1), g_b], 1)

    def objective(theta, rows):
        # Problem row = layer * P + p; each layer's problems share one matrix product.
        f, g = theta.new_empty(len(rows)), torch.empty_like(theta)
        for layer in torch.unique(rows // n_problems).tolist():
            sel = (rows // n_problems == layer).nonzero()[:, 0]
            f[sel], g[sel] = layer_objective(theta[sel], layer, rows[sel] % n_problems)
        return f, g

    theta, n_iter = batched_lbfgs(
        objective, X.new_zeros(n_layers * n_problems, (d + 1) * k), max_iter, tol
    )
    layers = torch.arange(n_layers, device=X.device).repeat_interleave(n_problems)
    probs = torch.arange(n_problems, device=X.device).repeat(n_layers)
    _, W_x, b_x = unpack(theta, layers, probs)
    return (
        W_x.view(n_layers, n_problems, d, k),
        b_x.view(n_layers, n_problems, k),
        n_iter.view(n_layers, n_problems),
    )


def batched_lbfgs(
    objective: Objective,
    x: torch.Tensor,
    max_iter: int,
    tol: float,
    history: int = 10,
    max_backtrack: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise B independent smooth convex functions at once with L-BFGS.

    ``objective(x_rows [R, P], rows [R])`` returns the values [R] and gradients [R, P] of the
    problems numbered ``rows``; it is only asked about problems still being optimised.
    Each problem keeps its own curvature history, step length (Armijo backtracking) and stopping
    test: max |grad| <= tol, or a decrease of f no larger than float resolution (scipy's ftol
    test at machine epsilon; in float32 this usually ends the fit before a tight tol), or no
    acceptable step within ``max_backtrack`` halvings. Returns solutions [B, P], iterations [B].
    """
    eps = torch.finfo(x.dtype).eps
    x = x.clone()
    f, g = objective(x, torch.arange(len(x), device=x.device))
    n_iter = torch.zeros(len(x), dtype=torch.long, device=x.device)
    active = g.abs().amax(1) > tol
    pairs = deque(maxlen=history)  # (s, y, rho) curvature pairs of all problems, oldest first
    # Without curvature pairs the first step is scaled like torch.optim.LBFGS's.
    gamma = (1.0 / g.abs().sum(1)).clamp(max=1.0)
    for _ in range(max_iter):
        rows = active.nonzero()[:, 0]
        if len(rows) == 0:
            break
        x_a, f_a, g_a = x[rows], f[rows], g[rows]
        direction = -_two_loop(
            g_a, [(s[rows], y[rows], rho[rows]) for s, y, rho in pairs], gamma[rows]
        )
        slope = (g_a * direction).sum(1)
        step = torch.ones_like(f_a)
        f_new, g_new = f_a.clone(), g_a.clone()
        accepted = torch.zeros_like(f_a, dtype=torch.bool)
        pending = torch.arange(len(rows), device=x.device)
        # Only problems whose step is still rejected are evaluated again, at half the step.
        for _ in range(max_backtrack):
            f_t, g_t = objective(
                x_a[pending] + step[pending, None] * direction[pending], rows[pending]
            )
            ok = f_t <= f_a[pending] + 1e-4 * step[pending] * slope[pending]
            f_new[pending[ok]], g_new[pending[ok]] = f_t[ok], g_t[ok]
            accepted[pending[ok]] = True
            pending = pending[~ok]
            if len(pending) == 0:
                break
            step[pending] /= 2
        s = (step * accepted)[:, None] * direction
        y = g_new - g_a
        sy = (s * y).sum(1)
        curved = accepted & (sy > 1e-10)
        # A pair without positive curvature gets rho = 0, which makes the two-loop skip it.
        pair = (torch.zeros_like(x), torch.zeros_like(x), torch.zeros_like(f))
        pair[0][rows], pair[1][rows] = s, y
        pair[2][rows] = torch.where(curved, 1.0 / sy.clamp_min(1e-10), 0.0)
        pairs.append(pair)
        gamma[rows] = torch.where(curved, sy / (y * y).sum(1).clamp_min(1e-30), gamma[rows])
        decreased = f_a - f_new > eps * f_a.abs().clamp_min(1.0)
        x[rows], f[rows], g[rows] = x_a + s, f_new, g_new
        n_iter[rows] += accepted
        active[rows] = accepted & decreased & (g_new.abs().amax(1) > tol)
    return x, n_iter


def _two_loop(g: torch.Tensor, pairs, gamma: torch.Tensor) -> torch.Tensor:
    """L-BFGS two-loop recursion, batched over rows: approximates H^-1 g."""
    q = g.clone()
    alphas = []
    for s, y, rho in reversed(pairs):
        a = rho * (s * q).sum(1)
        q -= a[:, None] * y
        alphas.append(a)
    r = gamma[:, None] * q
    for (s, y, rho), a in zip(pairs, reversed(alphas), strict=True):
        r += s * (a - rho * (y * r).sum(1))[:, None]
    return r
