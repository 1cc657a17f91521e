"""How much of a tuning's generation change its proxy leak explains, from one compare report.

    python benchmarks/leak_share.py REPORT_DIR [--tuned segmentation] [--ref base]

The leak detector (sgt_probe/evals/leak.py) flags each generated scene that looks like a proxy
map. The tuned checkpoint's generation score is recomputed as the benchmark computes it (the mean
of its prompt families' pass rates) with the verdicts of its flagged items replaced by the
reference's on the same prompts: the difference from its own score is the part of its change
that lies on the items it drew as maps; the rest lies on the items it drew as scenes.
"""

from __future__ import annotations

import argparse

import numpy as np

from sgt_probe.report.format import load_report


def overall(verdicts: np.ndarray, families: np.ndarray) -> float:
    """The generation benchmark's overall score: the mean of the families' pass rates."""
    return float(np.mean([verdicts[families == f].mean() for f in dict.fromkeys(families)]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", help="a compare report folder")
    ap.add_argument("--tuned", default="segmentation", help="the tuned checkpoint's name")
    ap.add_argument("--ref", default="base", help="the checkpoint it is compared with")
    args = ap.parse_args(argv)
    b = load_report(args.report).need("benchmarks")
    if b.leak is None:
        raise SystemExit(f"{args.report}: no leak measure (a report before version 5)")
    families = np.array([it.family for it in b.generations.items])
    tuned, ref = (np.array(b.generations.verdicts[n], bool) for n in (args.tuned, args.ref))
    maps = np.array(b.leak[args.tuned].maps, bool)
    swapped = np.where(maps, ref, tuned)
    own, base, without = (overall(x, families) for x in (tuned, ref, swapped))
    print(f"{args.tuned}: {maps.sum()} of {len(maps)} generations drawn as maps "
          f"({maps.mean():.3f})")  # fmt: skip
    print(f"pass rate on the items drawn as maps: {tuned[maps].mean():.3f} "
          f"({args.ref} on the same prompts: {ref[maps].mean():.3f})")  # fmt: skip
    print(f"pass rate on the others: {tuned[~maps].mean():.3f} "
          f"({args.ref}: {ref[~maps].mean():.3f})")  # fmt: skip
    change = own - base
    print(f"generation {own:.3f} vs {args.ref} {base:.3f}: change {change:+.3f}; with its map "
          f"items scored as {args.ref}'s: {without:.3f}, so the leak's items carry "
          f"{own - without:+.3f} ({(own - without) / change:.0%} of the change)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
