"""Attention-knockout curves: the change in p(correct answer) when text→image attention is blocked.

Per world and checkpoint, the relative change (p_new - p_base) / p_base against the centre of
the blocked window of layers, mean over seeds with a 95% t-interval (one seed: the report's
bootstrap CI). Writes knockout_curves.html (+ .png, .svg).

    python -m sgt_probe.analyses.knockout_curves RUNS_OR_REPORT_DIRS... --out DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from sgt_probe.analyses import common
from sgt_probe.report.format import Report
from sgt_probe.viz import views


def make(reports: list[Report], out: Path) -> common.Result:
    common.require(reports, "knockout")
    groups = common.by_world(reports)
    figs = {
        f"knockout_curves{common.suffix(world, groups)}": views.knockout(
            common.pooled(group), ci=common.ci_phrase(group)
        )
        for world, group in groups.items()
    }
    return common.Result("knockout_curves", "Attention knockout by layer", figs)


def main(argv=None) -> int:
    return common.main(make, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
