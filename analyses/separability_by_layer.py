"""Object-class probe by layer for base, the none control, segmentation and a low-level proxy.

Per world, the linear probe's held-out balanced accuracy over object patches at each layer, mean
over seeds with a 95% t-interval (one seed: the report's bootstrap CI), beside its 1/K floor,
for base, none, segmentation and the first of reconstruction / inpainting present; and a table
of every checkpoint at the middle layer, its score over its floor. Writes
separability_by_layer.csv and .html (+ .png, .svg).

    python -m sgt_probe.analyses.separability_by_layer RUNS_OR_REPORT_DIRS... --out DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from sgt_probe.analyses import common
from sgt_probe.report.format import Report
from sgt_probe.viz import views
from sgt_probe.viz.html import html_table

TARGET = "semantic_class"
WANTED = ("base", "none", "segmentation")


COLUMNS = ["world", "checkpoint", "layer", "n", "score", "score_lo", "score_hi", "floor",
           "score_over_floor"]  # fmt: skip


def table(reports: list[Report]) -> list[dict]:
    """Rows of COLUMNS: every checkpoint's probe at the middle layer, per world."""
    rows = []
    for world, group in common.by_world(reports).items():
        pooled = common.pooled(group)
        layer = pooled.model.n_layers // 2
        for name, targets in pooled.probes.targets.items():
            p = targets.get(TARGET)
            if p is None:
                continue
            n = sum(name in r.names for r in group)
            score = p.accuracy[layer]
            rows.append({
                "world": world, "checkpoint": name, "layer": layer, "n": n, "score": score,
                "score_lo": p.lo[layer], "score_hi": p.hi[layer], "floor": p.floor,
                "score_over_floor": None if score is None or not p.floor else score / p.floor,
            })  # fmt: skip
    return rows


def make(reports: list[Report], out: Path) -> common.Result:
    common.require(reports, "probes")
    groups = common.by_world(reports)
    figs = {}
    for world, group in groups.items():
        only = common.shown(group, WANTED, world)
        fig = views.probe_accuracy(common.pooled(group), TARGET, only, ci=common.ci_phrase(group))
        figs[f"separability_by_layer{common.suffix(world, groups)}"] = fig
    rows = table(reports)
    common.write_csv(out / "separability_by_layer.csv", COLUMNS, rows)
    shown = [{
        "world": r["world"], "checkpoint": r["checkpoint"], "layer": r["layer"],
        "probe (95% CI)": common.with_ci(r["score"], r["score_lo"], r["score_hi"], r["n"], ".3f"),
        "floor": r["floor"], "÷ floor": r["score_over_floor"],
    } for r in rows]  # fmt: skip
    note = f"<p>{__doc__.strip().splitlines()[0]} The table: the middle layer.</p>"
    return common.Result("separability_by_layer", "Linear separability by layer", figs,
                         [note, html_table(shown, {"÷ floor": ".2f"})])  # fmt: skip


def main(argv=None) -> int:
    return common.main(make, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
