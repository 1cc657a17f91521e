"""Where `sgt-probe compare` spends its time: every stage, for 2 and 7 checkpoints, one table.

    python benchmarks/compare_bench.py                     # 2 and 7 checkpoints, default settings
    python benchmarks/compare_bench.py --sizes 2 --set n_scenes=64 --set suites=benchmarks
    python benchmarks/compare_bench.py --sizes 2 --device cuda     # on a GPU machine

Each compare runs in a fresh process, as the CLI does, so per-process costs (imports, numba
compiling or loading its cache, the generation judge's fit) are counted as a user pays them:
`import` is the time from process start until compare can begin, `write` the report files,
`html` report.html. The checkpoints (a tiny-preset base and one tuning per proxy, trained only
a few steps: compare's cost does not depend on how well they learned) are made once under
--ckpts and reused. Timings on a shared machine are noisy: the load average is printed beside
them, and comparisons belong in one run.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_START = time.perf_counter()

PROXIES = ("segmentation", "none", "reconstruction", "inpainting", "edge", "depth")
# the names for compare's stages, in the order they run
STAGES = {"import": "import", "load": "load", "data": "data", "benchmarks": "eval",
          "capture": "capture", "probes": "probes", "attention": "attention",
          "knockout": "knockout", "cka": "CKA", "alignment": "alignment",
          "embeddings": "UMAP", "write": "write", "html": "html"}  # fmt: skip


def checkpoints(root: Path, steps: int) -> list[Path]:
    """A base and one tuning per proxy under root, trained `steps` steps (made once)."""
    from sgt_probe.data import DataSpec
    from sgt_probe.tuning.runner import train_base, tune

    root.mkdir(parents=True, exist_ok=True)
    base = root / "base.pt"
    if not base.exists():
        train_base(DataSpec(), base, "tiny", train_overrides={"steps": steps}, progress=False)
    paths = [base]
    for proxy in PROXIES:
        path = root / f"{proxy}.pt"
        if not path.exists():
            tune(base, proxy, path, {"steps": steps}, progress=False)
        paths.append(path)
    return paths


def child(paths: list[str], settings: dict) -> None:
    """One compare, as the CLI runs it; prints {stage: seconds} as JSON."""
    import sgt_probe  # noqa: F401  (its thread settings apply before torch loads)
    from sgt_probe.compare.run import CompareConfig, run_compare
    from sgt_probe.viz.html import write_html

    seconds = {"import": time.perf_counter() - T_START}
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        report = run_compare(paths, out, CompareConfig(**settings), progress=False)
        wall = time.perf_counter() - t0
        seconds |= report.timings
        seconds["write"] = wall - sum(report.timings.values())
        t0 = time.perf_counter()
        write_html(out)
        seconds["html"] = time.perf_counter() - t0
    print(json.dumps(seconds))


def run_child(paths: list[Path], settings: dict) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", json.dumps([str(p) for p in paths]),
            "--settings", json.dumps(settings)]  # fmt: skip
    t0 = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    seconds = json.loads(out.strip().splitlines()[-1])
    seconds["total"] = time.perf_counter() - t0  # process start to exit, as a user waits
    return seconds


def table(results: dict[int, dict[str, float]]) -> str:
    sizes = list(results)
    head = f"{'stage':<10}" + "".join(f"{f'{n} ckpts  s':>14}{'share':>7}" for n in sizes)
    lines = [head, "-" * len(head)]
    for key, label in STAGES.items():
        if not any(key in r for r in results.values()):
            continue
        row = f"{label:<10}"
        for n in sizes:
            s, total = results[n].get(key, 0.0), results[n]["total"]
            row += f"{s:>14.1f}{s / total:>7.0%}"
        lines.append(row)
    lines.append(f"{'total':<10}" + "".join(f"{results[n]['total']:>14.1f}{'':>7}" for n in sizes))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2, 7], help="checkpoints compared")
    ap.add_argument("--ckpts", type=Path, default=Path("runs/compare_bench"))
    ap.add_argument("--steps", type=int, default=20, help="training steps of each checkpoint")
    ap.add_argument("--checkpoints", nargs="+", help="compare these instead (one size)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a CompareConfig field, e.g. n_scenes=64 or suites=benchmarks,probes",
    )
    ap.add_argument("--device", default="cpu", help="compare's device: cpu, cuda or cuda:N")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--settings", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child), json.loads(args.settings))
        return
    settings = {"device": args.device}
    for kv in args.set:
        key, value = kv.split("=", 1)
        settings[key] = (
            tuple(value.split(",")) if key in ("suites", "embed") else ast.literal_eval(value)
        )
    paths = [Path(p) for p in args.checkpoints] if args.checkpoints else None
    paths = paths or checkpoints(args.ckpts, args.steps)
    sizes = [len(paths)] if args.checkpoints else args.sizes
    load = os.getloadavg()[0]
    results = {n: run_child(paths[:n], settings) for n in sizes}
    print(
        f"sgt-probe compare, settings {settings}; 1-min load average "
        f"{load:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores"
    )
    print(table(results))


if __name__ == "__main__":
    main()
