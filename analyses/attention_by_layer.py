"""Text→image attention mass by layer, and grounded attention precision vs chance by layer.

Per world, every checkpoint: the share of text-token queries' attention that lands on image
tokens (query→key, mean over heads), and the share of that mass on the object the question
names beside the chance level (the object's share of patches), mean over seeds with a 95%
t-interval (one seed: the report's bootstrap CI). Writes attention_by_layer.html (+ .png, .svg).

    python -m sgt_probe.analyses.attention_by_layer RUNS_OR_REPORT_DIRS... --out DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from sgt_probe.analyses import common
from sgt_probe.report.format import Report
from sgt_probe.viz import views


def make(reports: list[Report], out: Path) -> common.Result:
    common.require(reports, "attention")
    groups = common.by_world(reports)
    figs = {}
    for world, group in groups.items():
        report, sfx = common.pooled(group), common.suffix(world, groups)
        figs[f"attention_text_image{sfx}"] = views.attention_mass(report, "text->image")
        figs[f"attention_grounded{sfx}"] = views.grounded(report, ci=common.ci_phrase(group))
    return common.Result("attention_by_layer", "Cross-modal attention by layer", figs)


def main(argv=None) -> int:
    return common.main(make, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
