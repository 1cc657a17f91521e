"""Time the layer-wise probe suite: batched torch LayerwiseProbe against a scikit-learn loop.

The suite, run on the same synthetic features by both: for every layer, grouped K-fold CV over
the C grid, a refit with the chosen C, test accuracy on held-out images; then the same for the
Hewitt & Liang control task. Prints times, the speed ratio and per-layer accuracies.

    python benchmarks/probe_bench.py --small
    python benchmarks/probe_bench.py            # 8 layers, 50k patches, d=512, 10 classes
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sgt_probe.probes import LayerwiseProbe, control_labels, selectivity
from sgt_probe.probes.logistic import group_fold_masks


def synthetic_patches(n_layers, n, dim, n_classes, patches_per_image, types_per_class, seed):
    """Residual-stream-like features [L, N, d] whose class signal grows with depth.

    Each patch has a class, a type (a VQ-code stand-in, nested in its class, for the control
    task) and an image; features add class means, a type embedding, a per-image offset (so
    patches of one image are correlated), noise and a few huge constant dimensions.
    """
    rng = np.random.default_rng(seed)
    groups = np.arange(n) // patches_per_image
    y = rng.integers(0, n_classes, size=n)
    types = y * types_per_class + rng.integers(0, types_per_class, size=n)
    class_means = rng.normal(size=(n_classes, dim)) / np.sqrt(dim)
    type_emb = rng.normal(size=(n_classes * types_per_class, dim)) / np.sqrt(dim)
    image_offset = rng.normal(size=(groups[-1] + 1, dim)) * 0.5
    X = np.empty((n_layers, n, dim), dtype=np.float32)
    for layer in range(n_layers):
        signal = 1.0 + 2.0 * layer / max(1, n_layers - 1)
        X[layer] = signal * class_means[y] + 1.5 * type_emb[types] + image_offset[groups]
        X[layer] += rng.normal(size=(n, dim)).astype(np.float32) * 0.35
        X[layer, :, :4] += 100.0  # outlier dimensions, as residual streams have
    return X, y, types, groups


def sklearn_suite(X, y, groups, X_test, y_test, Cs, n_folds, max_iter, tol, seed):
    """Same suite as LayerwiseProbe.fit + layer_scores, one scikit-learn fit at a time, same folds."""
    masks = group_fold_masks(groups, n_folds, seed)

    def probe(C):
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, tol=tol))

    accs = []
    for x, x_test in zip(X, X_test, strict=True):
        cv = [np.mean([probe(C).fit(x[m], y[m]).score(x[~m], y[~m]) for m in masks]) for C in Cs]
        best = Cs[int(np.argmax(cv))]
        accs.append(probe(best).fit(x, y).score(x_test, y_test))
    return np.array(accs)


def torch_suite(X, y, groups, X_test, y_test, Cs, n_folds, max_iter, tol, seed, device):
    probe = LayerwiseProbe(Cs, n_folds, max_iter, tol, device, seed)
    return probe.fit(X, y, groups).layer_scores(X_test, y_test)


def timed(fn, *args):
    """Result, wall seconds and CPU seconds of this process (robust on a shared machine)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="4 layers, 5k patches, d=64")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--patches", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--patches-per-image", type=int, default=64)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--tol", type=float, default=1e-6, help="gradient tolerance, both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="CPU threads for torch and BLAS alike")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    if args.small:
        args.layers, args.patches, args.dim = 4, 5_000, 64
    Cs = (0.01, 0.1, 1.0, 10.0)

    X, y, types, groups = synthetic_patches(
        args.layers, args.patches, args.dim, args.classes, args.patches_per_image, 50, args.seed
    )
    control = control_labels(types, args.classes, seed=args.seed, labels=y)
    # Hold out a fifth of the images for the reported accuracies.
    test = groups % 5 == 0
    tasks = {"task": y, "control": control}
    print(
        f"{args.layers} layers, {(~test).sum()} train / {test.sum()} test patches, d={args.dim}, "
        f"{args.classes} classes, Cs={Cs}, {args.folds}-fold grouped CV, max_iter={args.max_iter}, tol={args.tol}"
        f", torch threads={torch.get_num_threads()}",
        flush=True,
    )
    common = (Cs, args.folds, args.max_iter, args.tol, args.seed)

    def run_suite(name, suite, *extra):
        accs, seconds = {}, np.zeros(2)
        for task, labels in tasks.items():
            train = X[:, ~test], labels[~test], groups[~test]
            accs[task], *dt = timed(suite, *train, X[:, test], labels[test], *common, *extra)
            seconds += dt
        print(f"{name} done: wall {seconds[0]:.1f} s, cpu {seconds[1]:.1f} s", flush=True)
        return accs, seconds

    results = {"torch cpu": run_suite("torch cpu", torch_suite, "cpu")}
    if torch.cuda.is_available():
        results["torch cuda"] = run_suite("torch cuda", torch_suite, "cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        results["sklearn"] = run_suite("sklearn", sklearn_suite)

    sk_wall, sk_cpu = results["sklearn"][1]
    for name, (_, (wall, cpu)) in results.items():
        print(
            f"{name:>11}: wall {wall:8.1f} s (x{sk_wall / wall:5.1f} vs sklearn)"
            f"   cpu {cpu:8.1f} s (x{sk_cpu / cpu:5.1f} vs sklearn)"
        )
    print("\nheld-out accuracy per layer (task | control | selectivity)")
    header = "layer " + "".join(f"{name:>30}" for name in results)
    print(header)
    for layer in range(args.layers):
        cells = []
        for accs, _ in results.values():
            task, ctrl = accs["task"][layer], accs["control"][layer]
            cells.append(f"{task:9.4f} {ctrl:9.4f} {selectivity(task, ctrl):9.4f}")
        print(f"{layer:>5} " + "".join(f"{c:>30}" for c in cells))
    ref = results.pop("sklearn")[0]
    for name, (accs, _) in results.items():
        gap = max(np.abs(accs[t] - ref[t]).max() for t in tasks)
        print(f"max |{name} - sklearn| accuracy: {100 * gap:.2f} points")


if __name__ == "__main__":
    main()
