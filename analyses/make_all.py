"""Every paper figure and table from the report dirs under RUNS_DIR.

    python -m sgt_probe.analyses.make_all RUNS_DIR [--out DIR]      (default DIR: RUNS_DIR/figures)

Runs each script's `make` on the same reports, then exports all figures in one browser
session. A script that cannot run on these reports is skipped with one line; the exit status
is then 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sgt_probe.analyses import (
    alignment_by_layer,
    attention_by_layer,
    claims,
    common,
    knockout_curves,
    proxy_taxonomy,
    separability_by_layer,
    umap_panels,
    understanding_by_family,
)
from sgt_probe.report.format import ReportError

SCRIPTS = (
    claims,
    proxy_taxonomy,
    understanding_by_family,
    separability_by_layer,
    attention_by_layer,
    umap_panels,
    knockout_curves,
    alignment_by_layer,
)


def make_all(runs: Path, out: Path | None = None, static: bool = True) -> int:
    """Every analysis over the reports under `runs`, written to `out` (default runs/figures).

    Returns 0, or 1 when a script was skipped, or 2 when there is no readable report.
    """
    out = out or runs / "figures"
    try:
        reports = common.find_reports([runs])
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    results, failed = [], []
    for script in SCRIPTS:
        name = script.__name__.rsplit(".", 1)[-1]
        try:
            results.append(script.make(reports, out))
        except ReportError as e:
            print(f"skipped {name}: {e}")
            failed.append(name)
    common.write(results, out, static=static)
    print(
        f"read {len(reports)} report(s); wrote {len(results)} of {len(SCRIPTS)} analyses to {out}/"
    )
    return 1 if failed else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("runs", type=Path, help="folder searched recursively for report.json")
    p.add_argument("--out", type=Path, help="output folder (default: RUNS_DIR/figures)")
    p.add_argument("--no-static", action="store_true", help="HTML only: skip PNG/SVG export")
    args = p.parse_args(argv)
    return make_all(args.runs, args.out, static=not args.no_static)


if __name__ == "__main__":
    sys.exit(main())
