"""Semantic-class probe accuracy by layer for base, the none control, segmentation and a low-level proxy.

Per world, the linear probe's held-out accuracy at each layer, mean over seeds with a 95%
t-interval (one seed: the report's bootstrap CI), for base, none, segmentation and the first of
reconstruction / inpainting present. Writes separability_by_layer.html (+ .png, .svg).

    python -m sgt_probe.analyses.separability_by_layer RUNS_OR_REPORT_DIRS... --out DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from sgt_probe.analyses import common
from sgt_probe.report.format import Report, ReportError
from sgt_probe.viz import views

TARGET = "semantic_class"
WANTED = ("base", "none", "segmentation")


def make(reports: list[Report], out: Path) -> common.Result:
    common.require(reports, "probes")
    groups = common.by_world(reports)
    figs = {}
    for world, group in groups.items():
        only = common.present(group, WANTED) + common.low_level(group)
        if not only:
            raise ReportError(f"{world}: none of {', '.join(WANTED)} or a low-level proxy present")
        fig = views.probe_accuracy(common.pooled(group), TARGET, only, ci=common.ci_phrase(group))
        figs[f"separability_by_layer{common.suffix(world, groups)}"] = fig
    return common.Result("separability_by_layer", "Linear separability by layer", figs)


def main(argv=None) -> int:
    return common.main(make, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
