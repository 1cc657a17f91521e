"""The proxy taxonomy table: each proxy's change in understanding and generation vs the `none` control.

For every report (one seed) that holds the `none` control checkpoint (tuned on the same data
with no proxy task), each proxy checkpoint's change is its overall score minus the control's.
Changes are averaged over seeds with a 95% t-interval (one seed: n=1, no interval), per world
and, when there are several worlds, over all of them. Writes proxy_taxonomy.csv, .md, .json
(the table's numbers, machine-readable) and .html with a figure.

    python -m sgt_probe.analyses.proxy_taxonomy RUNS_OR_REPORT_DIRS... --out DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sgt_probe.analyses import common
from sgt_probe.report.format import Report, ReportError
from sgt_probe.viz import figures
from sgt_probe.viz.html import html_table

CONTROL = "none"
# low level -> high level, the paper's hierarchy; other proxies follow
HIERARCHY = ("reconstruction", "inpainting", "edge", "depth", "segmentation")
BENCHMARKS = ("understanding", "generation")
ALL_WORLDS = "all worlds"
STATS = ("delta", "lo", "hi")
COLUMNS = ["world", "proxy", "n", "seeds"] + [f"{b}_{k}" for b in BENCHMARKS for k in STATS]


def changes(reports: list[Report]) -> list[dict]:
    """One record per (report, proxy checkpoint): its seed and overall change vs the control."""
    common.require(reports, "benchmarks")
    out, seen = [], set()
    for r in reports:
        ckpts = r.data.checkpoints
        control = next((c for c in ckpts if CONTROL in (c.name, c.proxy)), None)
        if control is None:
            print(f"{r.path}: no {CONTROL!r} control checkpoint; left out of the taxonomy")
            continue
        scores = r.data.benchmarks.scores
        for c in ckpts:
            if c.proxy in (None, CONTROL) or c is control:
                continue
            key = (common.world(r), c.proxy, c.seed)
            # the same run found twice (e.g. a copied report) would narrow the interval falsely
            if key[2] is not None and key in seen:
                print(f"{r.path}: {c.proxy} seed {key[2]} seen already; counted once")
                continue
            seen.add(key)
            rec = {"world": key[0], "proxy": key[1], "seed": key[2]}
            for b in BENCHMARKS:
                rec[b] = _difference(getattr(scores[c.name], b).overall,
                                     getattr(scores[control.name], b).overall)  # fmt: skip
            out.append(rec)
    if not out:
        raise ReportError(f"no report has a {CONTROL!r} control and a proxy checkpoint")
    return out


def _difference(x: float | None, y: float | None) -> float | None:
    return None if x is None or y is None else x - y


def _order(proxies) -> list[str]:
    rest = sorted(set(proxies) - set(HIERARCHY))
    return [p for p in HIERARCHY if p in proxies] + rest


def table(records: list[dict]) -> list[dict]:
    """Rows of COLUMNS: per world (and over all worlds when several), per proxy."""
    worlds = sorted({rec["world"] for rec in records})
    groups = [(w, [rec for rec in records if rec["world"] == w]) for w in worlds]
    if len(worlds) > 1:
        groups.append((ALL_WORLDS, records))
    rows = []
    for w, recs in groups:
        for proxy in _order({rec["proxy"] for rec in recs}):
            mine = [rec for rec in recs if rec["proxy"] == proxy]
            row = {"world": w, "proxy": proxy, "n": len(mine)}
            row["seeds"] = " ".join(str(rec["seed"]) for rec in mine)
            for b in BENCHMARKS:
                stats = common.summary([rec[b] for rec in mine])
                row |= dict(zip((f"{b}_{k}" for k in STATS), stats, strict=True))
            rows.append(row)
    return rows


def cell(row: dict, bench: str) -> str:
    return common.with_ci(*(row[f"{bench}_{k}"] for k in STATS), row["n"], "+.3f")


HEADERS = ["world", "proxy", "n"] + [f"{b} Δ vs {CONTROL} (95% CI)" for b in BENCHMARKS]


def display(rows: list[dict]) -> list[list[str]]:
    return [[r["world"], r["proxy"], str(r["n"]), *(cell(r, b) for b in BENCHMARKS)] for r in rows]


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in display(rows)]
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], reports: list[Report]):
    """The changes as dots with their intervals, one color per proxy, x = world."""
    dots = [
        common.dot(CONTROL, r["proxy"], b, r["world"], *(r[f"{b}_{k}"] for k in STATS))
        for b in BENCHMARKS
        for r in rows
    ]
    palette = common.colors(reports)
    colors = {p: palette.get(p, figures.REFERENCE_COLOR) for p in {r["proxy"] for r in rows}}
    fig = figures.delta_dots(dots, colors)
    n = max(r["n"] for r in rows)
    ci = "one seed, no interval" if n == 1 else f"mean over up to {n} seeds, 95% t-interval"
    fig.update_layout(
        title_text=f"Change vs the {CONTROL!r} control per proxy, {ci} (> 0 = better)"
    )
    return fig


def make(reports: list[Report], out: Path) -> common.Result:
    rows = table(changes(reports))
    common.write_csv(out / "proxy_taxonomy.csv", COLUMNS, rows)
    md = markdown(rows)
    (out / "proxy_taxonomy.md").write_text(md)
    doc = {
        "reference": CONTROL,
        "definition": __doc__.strip().splitlines()[0],
        "columns": COLUMNS,
        "headers": HEADERS,
        "rows": [r | {"cells": cells} for r, cells in zip(rows, display(rows), strict=True)],
    }
    (out / "proxy_taxonomy.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(md, end="")
    shown = [dict(zip(HEADERS, cells, strict=True)) for cells in display(rows)]
    return common.Result(
        "proxy_taxonomy",
        "Proxy taxonomy: change vs the 'none' control",
        {"proxy_taxonomy": figure(rows, reports)},
        [f"<p>{__doc__.strip().splitlines()[0]}</p>", html_table(shown)],
    )


def main(argv=None) -> int:
    return common.main(make, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
