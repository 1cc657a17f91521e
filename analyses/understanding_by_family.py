"""Benchmark accuracy per family for each checkpoint: is the gain in the perception families?

Per world, the accuracy of every checkpoint on each question family (understanding) and prompt
family (generation), mean over seeds with a 95% t-interval; and each checkpoint's change vs
the reference (the `none` control where every report has it, else the reports' first
checkpoint), taken per seed and then averaged; beside each accuracy its floor (what a model
that ignores its input scores: see benchmark_floor), mean over seeds. Writes
understanding_by_family.csv and .html.

    python -m sgt_probe.analyses.understanding_by_family RUNS_OR_REPORT_DIRS... --out DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from sgt_probe.analyses import common
from sgt_probe.report.format import Report
from sgt_probe.viz import figures
from sgt_probe.viz.html import html_table

CONTROL = "none"
BENCHMARKS = ("understanding", "generation")
STATS = ("", "_lo", "_hi")
COLUMNS = ["world", "benchmark", "family", "checkpoint", "n", "reference", "floor"] + [
    f"{k}{s}" for k in ("accuracy", "delta") for s in STATS
]


def reference(reports: list[Report]) -> str:
    if all(CONTROL in r.names for r in reports):
        return CONTROL
    return reports[0].names[0]


def _accuracy(report: Report, name: str, bench: str, family: str, floor: bool = False):
    """The family's (or overall) accuracy, or with `floor` its floor; None where absent."""
    scores = getattr(report.data.benchmarks.scores[name], bench)
    if floor and (scores := scores.floor) is None:  # a report from before floors
        return None
    return scores.overall if family == "overall" else scores.families.get(family)


def _families(group: list[Report], bench: str) -> list[str]:
    scores = (getattr(s, bench).families for r in group for s in r.data.benchmarks.scores.values())
    return ["overall", *dict.fromkeys(f for fams in scores for f in fams)]


def _stats(prefix: str, values: list) -> dict:
    """prefix, prefix_lo, prefix_hi: the mean over seeds and its interval (None if no values)."""
    stats = common.summary(values) if values else (None, None, None)
    return dict(zip((f"{prefix}{s}" for s in STATS), stats, strict=True))


def _triple(row: dict, prefix: str) -> tuple:
    return tuple(row[f"{prefix}{s}"] for s in STATS)


def table(reports: list[Report]) -> list[dict]:
    """Rows of COLUMNS, per world, benchmark, family (overall first) and checkpoint."""
    common.require(reports, "benchmarks")
    rows = []
    for world, group in common.by_world(reports).items():
        ref = reference(group)
        names = list(dict.fromkeys(n for r in group for n in r.names))
        for bench in BENCHMARKS:
            for family in _families(group, bench):
                for name in names:
                    have = [r for r in group if name in r.names]
                    acc = [_accuracy(r, name, bench, family) for r in have]
                    floors = [f for r in have if (f := _accuracy(r, name, bench, family, True))
                              is not None]  # fmt: skip
                    # per seed, against that seed's reference; a missing score stays missing
                    delta = [
                        None
                        if a is None or (b := _accuracy(r, ref, bench, family)) is None
                        else a - b
                        for r, a in zip(have, acc, strict=True)
                        if ref in r.names and name != ref
                    ]
                    rows.append(
                        dict(world=world, benchmark=bench, family=family, checkpoint=name)
                        | {"n": len(have), "reference": ref}
                        | {"floor": common.summary(floors)[0] if floors else None}
                        | _stats("accuracy", acc)
                        | _stats("delta", delta)
                    )
    return rows


def figure(rows: list[dict], world: str, reports: list[Report]):
    mine = [r for r in rows if r["world"] == world]
    ref = mine[0]["reference"]
    dots = [
        common.dot(ref, r["checkpoint"], r["benchmark"], r["family"], *_triple(r, "delta"))
        for r in mine
        if r["delta"] is not None
    ]
    fig = figures.delta_dots(dots, common.colors(reports))
    fig.update_layout(
        title_text=f"Accuracy change vs {ref!r} per family, {world} world, "
        f"{common.ci_phrase(reports)} (> 0 = better than {ref!r})"
    )
    return fig


def make(reports: list[Report], out: Path) -> common.Result:
    rows = table(reports)
    common.write_csv(out / "understanding_by_family.csv", COLUMNS, rows)
    groups = common.by_world(reports)
    figs = {
        f"understanding_by_family{common.suffix(w, groups)}": figure(rows, w, group)
        for w, group in groups.items()
    }
    shown = [
        {
            "world": r["world"],
            "benchmark": r["benchmark"],
            "family": r["family"],
            "checkpoint": r["checkpoint"],
            "accuracy (95% CI)": common.with_ci(*_triple(r, "accuracy"), r["n"], ".3f"),
            "floor": r["floor"],
            "Δ vs reference (95% CI)": common.with_ci(*_triple(r, "delta"), r["n"], "+.3f")
            if r["delta"] is not None
            else f"(the reference, {r['reference']})",
        }
        for r in rows
    ]
    return common.Result(
        "understanding_by_family",
        "Benchmark accuracy by family",
        figs,
        [f"<p>{__doc__.strip().splitlines()[0]}</p>", html_table(shown)],
    )


def main(argv=None) -> int:
    return common.main(make, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
