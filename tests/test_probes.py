"""Probes against independent computations: scikit-learn fits, analytic SEs, hand definitions."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sgt_probe.probes import (
    LayerwiseProbe,
    balanced_accuracy,
    bootstrap_balanced_ci,
    bootstrap_ci,
    control_labels,
    fisher_ratio,
    layerwise_fisher_ratio,
    layerwise_silhouette,
    paired_bootstrap_delta,
    selectivity,
    silhouette,
)
from sgt_probe.probes.logistic import group_fold_masks


@pytest.fixture(scope="module")
def digit_layers():
    """Digits as three 'layers' of decreasing quality: [3, N, 64], labels, groups of 5."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    layers = np.stack([X + rng.normal(0, s, X.shape) for s in (0.0, 4.0, 8.0)])
    return layers.astype(np.float32), y, np.arange(len(y)) // 5


def _sklearn_probe(C: float):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=100))


@pytest.mark.parametrize("C", [0.01, 1.0])
def test_probe_matches_sklearn_accuracy(digit_layers, C):
    X, y, groups = digit_layers
    train = np.arange(len(y)) % 4 != 0
    probe = LayerwiseProbe(Cs=(C,), n_folds=2, device="cpu").fit(
        X[:, train], y[train], groups[train]
    )
    ours_train = probe.layer_scores(X[:, train], y[train])
    ours_test = probe.layer_scores(X[:, ~train], y[~train])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = [_sklearn_probe(C).fit(x[train], y[train]) for x in X]
    ref_train = [m.score(x[train], y[train]) for m, x in zip(fitted, X, strict=True)]
    ref_test = [m.score(x[~train], y[~train]) for m, x in zip(fitted, X, strict=True)]
    np.testing.assert_allclose(ours_train, ref_train, atol=0.01)
    np.testing.assert_allclose(ours_test, ref_test, atol=0.01)
    assert probe.coef_.shape == (3, 64, 10) and probe.intercept_.shape == (3, 10)
    assert ours_test[0] > ours_test[2]  # the noisier layer is the worse one


def test_cv_scores_match_sklearn_on_the_same_folds(digit_layers):
    X, y, groups = digit_layers
    Cs = (0.01, 1.0)
    probe = LayerwiseProbe(Cs=Cs, n_folds=3, device="cpu", seed=1).fit(X[:2], y, groups)
    masks = group_fold_masks(groups, 3, seed=1)
    ref = np.zeros((2, len(Cs)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for layer, x in enumerate(X[:2]):
            for c, C in enumerate(Cs):
                ref[layer, c] = np.mean(
                    [_sklearn_probe(C).fit(x[m], y[m]).score(x[~m], y[~m]) for m in masks]
                )
    np.testing.assert_allclose(probe.cv_scores_, ref, atol=0.01)
    np.testing.assert_array_equal(probe.C_, np.asarray(Cs)[ref.argmax(1)])


def test_group_folds_never_split_a_group():
    groups = np.random.default_rng(0).integers(0, 40, size=500)
    masks = group_fold_masks(groups, 5, seed=3)
    validated = np.zeros(500, dtype=int)
    for train in masks:
        assert not set(groups[train]) & set(groups[~train])
        validated += ~train
    np.testing.assert_array_equal(validated, 1)  # each row validated exactly once


def test_grouped_cv_does_not_reward_memorising_images():
    # Each image has its own feature centre and one random label: only leakage across folds
    # could make this predictable, so cross-validated accuracy must stay near chance (0.5).
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), 10)
    centres, labels = rng.normal(size=(60, 100)), rng.integers(0, 2, size=60)
    X = centres[groups] + 0.05 * rng.normal(size=(600, 100))
    probe = LayerwiseProbe(Cs=(1.0, 100.0), device="cpu").fit(X[None], labels[groups], groups)
    assert probe.cv_scores_.max() < 0.7
    assert probe.layer_scores(X[None], labels[groups])[0] > 0.9  # while the training fit memorises


def test_probe_is_deterministic_and_predicts_original_labels(digit_layers):
    X, y, groups = digit_layers
    labels = np.array([10, 20, 30])[y % 3]
    a = LayerwiseProbe(Cs=(0.1, 1.0), n_folds=2, device="cpu").fit(X[:1], labels, groups)
    b = LayerwiseProbe(Cs=(0.1, 1.0), n_folds=2, device="cpu").fit(X[:1], labels, groups)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert set(np.unique(a.predict(X[:1]))) <= {10, 20, 30}


def test_control_labels_are_a_function_of_type():
    rng = np.random.default_rng(0)
    types = rng.integers(0, 3000, size=60_000)
    task = rng.choice(4, size=60_000, p=[0.55, 0.25, 0.15, 0.05])
    control = control_labels(types, 4, seed=0, labels=task)
    for t in np.unique(types)[:200]:
        assert len(np.unique(control[types == t])) == 1
    # One draw per type from the task's class distribution.
    per_type = control[np.unique(types, return_index=True)[1]]
    np.testing.assert_allclose(
        np.bincount(per_type) / len(per_type), [0.55, 0.25, 0.15, 0.05], atol=0.03
    )
    np.testing.assert_array_equal(control, control_labels(types, 4, seed=0, labels=task))
    assert not np.array_equal(control, control_labels(types, 4, seed=1, labels=task))


def test_selectivity_is_task_minus_control():
    np.testing.assert_allclose(selectivity([0.9, 0.8], [0.6, 0.7]), [0.3, 0.1])


def test_bootstrap_ci_matches_normal_theory_and_shrinks():
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 2.0, size=400), rng.normal(1.0, 2.0, size=6400)
    mean, lo, hi = bootstrap_ci(small)
    assert mean == pytest.approx(small.mean()) and lo < mean < hi
    expected_width = 2 * 1.96 * small.std() / np.sqrt(len(small))
    assert hi - lo == pytest.approx(expected_width, rel=0.15)
    _, lo_l, hi_l = bootstrap_ci(large)
    assert hi_l - lo_l == pytest.approx((hi - lo) / 4, rel=0.2)  # width ~ 1/sqrt(n)


def test_cluster_bootstrap_is_wider_for_correlated_groups():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(50), 20)
    values = rng.normal(size=50)[groups] + 0.3 * rng.normal(size=1000)
    _, lo_iid, hi_iid = bootstrap_ci(values)
    _, lo_cl, hi_cl = bootstrap_ci(values, groups=groups)
    assert hi_cl - lo_cl > 2 * (hi_iid - lo_iid)
    # Cluster SE from the 50 group means, computed directly.
    group_means = values.reshape(50, 20).mean(1)
    assert hi_cl - lo_cl == pytest.approx(2 * 1.96 * group_means.std() / np.sqrt(50), rel=0.2)


def test_paired_delta_is_the_mean_difference_and_pairing_narrows_it():
    rng = np.random.default_rng(1)
    a = rng.normal(size=500)
    b = a + 0.1 + 0.05 * rng.normal(size=500)
    delta, lo, hi = paired_bootstrap_delta(a, b)
    assert delta == pytest.approx(b.mean() - a.mean())
    assert lo < delta < hi and lo > 0
    unpaired_width = 2 * 1.96 * np.sqrt(a.var() / 500 + b.var() / 500)
    assert hi - lo < unpaired_width / 5


def _clusters(spread: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), 100)
    centres = rng.normal(size=(3, 8)) * spread
    return centres[y] + rng.normal(size=(300, 8)), y


def test_fisher_ratio_matches_scatter_matrices_and_ranks_separation():
    X, y = _clusters(5.0)
    mu = X.mean(0)
    s_b = sum(
        (y == c).sum() * np.outer(X[y == c].mean(0) - mu, X[y == c].mean(0) - mu) for c in range(3)
    )
    s_w = sum((X[y == c] - X[y == c].mean(0)).T @ (X[y == c] - X[y == c].mean(0)) for c in range(3))
    assert fisher_ratio(X, y) == pytest.approx(np.trace(s_b) / np.trace(s_w))
    mixed, _ = _clusters(0.0)
    assert fisher_ratio(X, y) > 10 * fisher_ratio(mixed, y)
    np.testing.assert_allclose(
        layerwise_fisher_ratio(np.stack([mixed, X]), y),
        [fisher_ratio(mixed, y), fisher_ratio(X, y)],
    )


def test_silhouette_ranks_separation():
    X, y = _clusters(5.0)
    mixed, _ = _clusters(0.0)
    assert silhouette(X, y, metric="euclidean") > 0.5 > silhouette(mixed, y, metric="euclidean")
    scores = layerwise_silhouette(np.stack([mixed, X]), y, max_n=150)
    assert scores[1] > scores[0]


def test_fit_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"X \[L, N, d\]"):
        LayerwiseProbe().fit(np.zeros((5, 3)), np.zeros(5), np.zeros(5))


def test_probe_target_reports_the_majority_floor_on_held_out_rows():
    from sgt_probe.compare.suites.probes import probe_target

    # train labels 0,0,0,1 -> always answer 0; held-out labels 0,1,1,1 -> right 1 time in 4
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    train = np.arange(8) < 4
    X = np.random.default_rng(0).normal(size=(1, 8, 3))
    out = probe_target(X, y, np.arange(8), train, Cs=(1.0,), n_folds=2, n_boot=20)
    assert out.majority == 0.25


def test_balanced_accuracy_is_sklearns_and_its_floor_is_one_over_k():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    y = rng.choice(4, size=500, p=[0.7, 0.2, 0.07, 0.03])
    pred = np.where(rng.random(500) < 0.6, y, rng.integers(0, 4, size=500))
    assert balanced_accuracy(pred == y, y) == pytest.approx(balanced_accuracy_score(y, pred))
    # by hand: class 0 right 2 of 4, class 1 right 1 of 2, class 2 right 0 of 1 -> (1/2+1/2+0)/3
    y = np.array([0, 0, 0, 0, 1, 1, 2])
    assert balanced_accuracy([1, 1, 0, 0, 1, 0, 0], y) == pytest.approx(1 / 3)
    # always answering the commonest class: plain accuracy 4/7, balanced accuracy 1/K
    assert balanced_accuracy(y == 0, y) == pytest.approx(1 / 3)


def test_balanced_bootstrap_resamples_groups_as_a_direct_loop_does():
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(30), 6)
    y = rng.integers(0, 3, size=180)
    correct = rng.random(180) < np.array([0.9, 0.5, 0.2])[y]
    mean, lo, hi = bootstrap_balanced_ci(correct, y, groups, n_boot=200, seed=4)
    assert mean == pytest.approx(balanced_accuracy(correct, y))
    # the same draws, each replicate's balanced accuracy computed from its rows directly
    draws = np.random.default_rng(4).integers(0, 30, size=(200, 30))
    reps = []
    for drawn in draws:
        rows = np.concatenate([np.nonzero(groups == g)[0] for g in drawn])
        reps.append(balanced_accuracy(correct[rows], y[rows]))
    np.testing.assert_allclose([lo, hi], np.quantile(reps, [0.025, 0.975]), atol=1e-12)


def _patches(seed: int = 0, n_images: int = 80, per_image: int = 16, d: int = 12):
    """Patch residuals of images with four object classes (imbalanced) on background: classes
    1-2 have their own directions, 3-4 share one (inseparable), background is far away."""
    rng = np.random.default_rng(seed)
    image_of = np.repeat(np.arange(n_images), per_image)
    y = np.where(rng.random(len(image_of)) < 0.7, 0,
                 rng.choice([1, 2, 3, 4], size=len(image_of), p=[0.4, 0.3, 0.2, 0.1]))  # fmt: skip
    centres = np.zeros((5, d))
    centres[0, 0] = 20.0
    centres[1, 1] = centres[2, 2] = 3.0
    centres[3, 3] = centres[4, 3] = 3.0
    X = centres[y] + rng.normal(size=(len(y), d))
    return np.stack([X, 0.1 * X]).astype(np.float32), y, image_of


def test_probe_target_scores_balanced_accuracy_as_sklearn_does_on_the_probes_predictions():
    from sklearn.metrics import balanced_accuracy_score

    from sgt_probe.compare.suites.probes import probe_target

    X, y, image_of = _patches()
    obj = y > 0
    X, y, image_of = X[:, obj], y[obj], image_of[obj]
    train = image_of < 40
    out = probe_target(X, y, image_of, train, control_types=np.arange(len(y)) % 7, Cs=(1.0,),
                       n_folds=2, n_boot=200)  # fmt: skip
    probe = LayerwiseProbe(Cs=(1.0,), n_folds=2, max_iter=50).fit(X[:, train], y[train],
                                                                  image_of[train])  # fmt: skip
    want = [balanced_accuracy_score(y[~train], p) for p in probe.predict(X[:, ~train])]
    np.testing.assert_allclose(out.accuracy, want, atol=1e-12)
    assert out.metric == "balanced_accuracy" and out.n_classes == 4 and out.floor == 0.25
    assert all(lo <= a <= hi for a, lo, hi in zip(out.accuracy, out.lo, out.hi, strict=True))
    # classes 3 and 4 are one cloud: their recalls sum to about 1, so about (1 + 1 + 1) / 4
    assert 0.6 < out.accuracy[0] < 0.8
    assert out.majority == pytest.approx(np.mean(y[~train] == 1))


def test_patch_probes_read_object_patches_only():
    from sgt_probe.compare.suites.probes import probe_targets

    X, y, image_of = _patches(seed=1)
    labels = {"class": y}
    counts = np.bincount(image_of)  # any per-image label will do
    out = probe_targets(X, labels, image_of, np.arange(len(y)) % 7, counts % 3, n_boot=50)
    p = out["semantic_class"]
    # background, which any probe tells apart, is not among the classes scored
    assert p.n_classes == 4 and p.floor == 0.25
    assert p.accuracy[0] < 0.8
    assert out["object_count"].n_classes == len(np.unique((counts % 3)[1::2]))


def test_the_probe_follows_the_scikit_learn_estimator_contract():
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    probe = LayerwiseProbe(Cs=(0.5, 2.0), n_folds=3, seed=4)
    assert (
        probe.get_params()["Cs"] == (0.5, 2.0) and clone(probe).get_params() == probe.get_params()
    )
    with pytest.raises(NotFittedError):
        probe.predict(np.zeros((1, 2, 3)))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(2, 60, 4)), np.repeat([0, 1, 2], 20)
    X[:, :, 0] += 3 * y  # separable along the first feature at every layer
    fitted = clone(probe).fit(X, y, groups=np.arange(60) // 3)
    assert fitted.layer_scores(X, y).shape == (2,) and (fitted.layer_scores(X, y) > 0.9).all()
