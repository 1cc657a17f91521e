"""How far two compare reports differ, number by number: the check that a speed-up kept results.

    python benchmarks/report_diff.py BEFORE_DIR AFTER_DIR [--tol 1e-6] [--show 10]

Every number in report.json (by its path, e.g. probes.targets.base.color.accuracy.3) and every
array in arrays.npz is compared; prints, per section, how many numbers the two share, the
largest absolute difference and how many exceed --tol, then the --show largest differences by
path, then the paths only one report has (fields a newer schema added or dropped). Two NaNs are
equal; a string, bool or null differs by infinity or not at all. Exit status 1 when a shared
value differs by more than --tol. Timings, the creation time, the compare settings and the
metric definitions are left out: they differ by nature.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

SKIP = ("timings", "created", "compare_config", "schema_version", "definitions")


def leaves(node, path: str = "") -> dict[str, object]:
    """path -> value for every number, string and bool under node (null counts as a value)."""
    if isinstance(node, dict):
        return {k: v for key, sub in node.items() for k, v in leaves(sub, f"{path}.{key}").items()}
    if isinstance(node, list):
        return {k: v for i, sub in enumerate(node) for k, v in leaves(sub, f"{path}.{i}").items()}
    return {path.lstrip("."): node}


def read_report(folder: Path) -> dict[str, object]:
    """Every value of a report dir by path: report.json's leaves, then arrays.npz's elements
    as `arrays:NAME.i` (flat index)."""
    doc = json.loads((folder / "report.json").read_text())
    values = {k: v for k, v in leaves(doc).items() if not k.startswith(SKIP)}
    npz = folder / "arrays.npz"
    if npz.exists():
        with np.load(npz, allow_pickle=False) as z:
            for name in z.files:
                flat = z[name].ravel()
                numeric = np.issubdtype(flat.dtype, np.number) or flat.dtype == bool
                for i, x in enumerate(flat.tolist() if numeric else flat.astype(str).tolist()):
                    values[f"arrays:{name}.{i}"] = x
    return values


def difference(x, y) -> float:
    """|x - y| for two numbers (0 for two NaNs, inf for one), else 0 if equal and inf if not."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y))
    if not numbers:  # a bool equals only the same bool (Python has True == 1)
        return 0.0 if type(x) is type(y) and x == y else math.inf
    x, y = float(x), float(y)
    if math.isnan(x) or math.isnan(y):
        return 0.0 if math.isnan(x) and math.isnan(y) else math.inf
    return abs(x - y)


def section(key: str) -> str:
    """A path's section: the array's name, or the first two parts of a report.json path."""
    return key.rsplit(".", 1)[0] if key.startswith("arrays:") else ".".join(key.split(".")[:2])


def compare(a: dict, b: dict, tol: float, show: int = 10) -> tuple[bool, str]:
    """(whether every shared value agrees within tol, the printed table)."""
    sections: dict[str, list[float]] = {}
    diffs: list[tuple[float, str]] = []
    for key in sorted(a.keys() & b.keys()):
        d = difference(a[key], b[key])
        sections.setdefault(section(key), []).append(d)
        if d > tol:
            diffs.append((d, key))
    lines = [f"{'section':<40}{'shared':>9}{'max |diff|':>14}{f'> {tol:g}':>10}"]
    for top, ds in sections.items():
        lines.append(f"{top:<40}{len(ds):>9}{max(ds):>14.3g}{sum(d > tol for d in ds):>10}")
    if diffs:
        lines.append(f"largest differences ({min(show, len(diffs))} of {len(diffs)}):")
        for d, key in sorted(diffs, reverse=True)[:show]:
            lines.append(f"  {key}: {a[key]!r} -> {b[key]!r} ({d:.3g})")
    for label, only in (("only before", a.keys() - b.keys()), ("only after", b.keys() - a.keys())):
        groups = sorted({section(k) for k in only})
        more = f" under {', '.join(groups[:12])}" + (", ..." if len(groups) > 12 else "")
        lines.append(f"{label}: {len(only)} values" + (more if only else ""))
    return not diffs, "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--show", type=int, default=10, help="largest differences listed")
    args = ap.parse_args(argv)
    same, text = compare(read_report(args.before), read_report(args.after), args.tol, args.show)
    print(text)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
