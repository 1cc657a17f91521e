"""What the analysis scripts share: finding report dirs, pooling seeds, writing the outputs.

A script reads only report dirs (every report.json under the paths it is given) and never
trains. One report is one seed; numbers across seeds are a mean with a 95% t-interval over
seeds, and a single seed keeps the report's own bootstrap bands. Every script is a module with
`make(reports, out) -> Result` (which writes its tables) and `main(argv)`; `make_all` runs the
`make`s and exports every figure in one browser session.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from scipy import stats

from sgt_probe.report.format import REPORT_JSON, Report, ReportError, load_report
from sgt_probe.viz.figures import checkpoint_colors
from sgt_probe.viz.html import figure_page

CHROMIUM = "/usr/bin/chromium"
STATIC_WIDTH = 1000  # px; kaleido's default (700) squeezes the two-panel figures
LOW_LEVEL = ("reconstruction", "inpainting")  # the low-level proxies, preferred first


@dataclass
class Result:
    """One script's page: `html` blocks (tables, notes) above its figures, each figure also
    exported as <figure key>.png and .svg."""

    name: str
    title: str
    figures: dict[str, go.Figure]
    html: list[str] = field(default_factory=list)


# ---- reading ----


def find_reports(paths: Sequence[str | Path]) -> list[Report]:
    """Every report dir under `paths` (a report dir, a report.json, or a folder searched
    recursively), each once, in path order; ReportError if there is none or one is damaged."""
    dirs: set[Path] = set()
    for p in map(Path, paths):
        if not p.exists():
            raise ReportError(f"{p}: no such file or directory")
        found = [p] if p.name == REPORT_JSON else p.rglob(REPORT_JSON)
        dirs.update(f.parent.resolve() for f in found if f.is_file())
    if not dirs:
        raise ReportError(f"no {REPORT_JSON} under {', '.join(map(str, paths))}")
    return [load_report(d) for d in sorted(dirs)]


def world(report: Report) -> str:
    return str((report.data.get("data") or {}).get("world", "unknown"))


def by_world(reports: Sequence[Report]) -> dict[str, list[Report]]:
    """Reports grouped by scene world: layer curves are only averaged within one world."""
    groups: dict[str, list[Report]] = {}
    for r in reports:
        groups.setdefault(world(r), []).append(r)
    return groups


def suffix(key: str, groups: dict) -> str:
    """A file-name suffix that tells groups apart, empty when there is only one."""
    return f"_{key}" if len(groups) > 1 else ""


def present(reports: Sequence[Report], wanted: Sequence[str]) -> list[str]:
    """The checkpoint names of `wanted` that some report has, in `wanted` order."""
    have = {n for r in reports for n in r.names}
    return [n for n in wanted if n in have]


def run_seed(report: Report):
    """The training seed a report stands for: its tuned checkpoints' seed, else its data seed."""
    seeds = {c.get("seed") for c in report.data["checkpoints"] if c.get("proxy")} - {None}
    return seeds.pop() if len(seeds) == 1 else (report.data.get("data") or {}).get("seed")


def colors(reports: Sequence[Report]) -> dict[str, str]:
    """Checkpoint colors over all reports, assigned as `sgt_probe.viz.views.colors` assigns them."""
    return checkpoint_colors(list(dict.fromkeys(n for r in reports for n in r.names)))


def low_level(reports: Sequence[Report]) -> list[str]:
    """The one low-level proxy to show beside segmentation: the first of LOW_LEVEL present."""
    return present(reports, LOW_LEVEL)[:1]


# ---- statistics over seeds ----


def mean_ci(values) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Mean over axis 0 (seeds) and its 95% t-interval; (mean, None, None) for one seed.

    null values (numbers a report could not compute) are left out of that position's mean.
    """
    x = np.asarray(values, dtype=float)  # [n_seeds, ...]; None -> nan
    n = np.sum(np.isfinite(x), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(x, axis=0) / n
        if len(x) < 2:
            return mean, None, None
        sd = np.sqrt(np.nansum((x - mean) ** 2, axis=0) / (n - 1))
        half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    return mean, mean - half, mean + half


def summary(values) -> tuple[float | None, float | None, float | None]:
    """(mean, lo, hi) of per-seed values as plain floats; lo, hi None for one seed. JSON has
    no NaN, so a number that could not be computed is None too."""

    def number(x) -> float | None:
        return None if x is None or not math.isfinite(x) else float(x)

    mean, lo, hi = mean_ci(values)
    return number(mean), number(lo), number(hi)


def with_ci(mean: float | None, lo: float | None, hi: float | None, n: int, spec: str) -> str:
    """How tables show a mean over seeds: '+0.031 [-0.010, +0.072]', or '+0.031 (n=1)'."""
    if mean is None:
        return "n/a"
    if lo is None or hi is None:
        return f"{mean:{spec}} (n={n})"
    return f"{mean:{spec}} [{lo:{spec}}, {hi:{spec}}]"


def dot(a: str, b: str, benchmark: str, family: str, mean, lo, hi) -> dict:
    """One entry for `figures.delta_dots`: b's change vs a; one seed has no interval, so its
    dot is drawn bare."""
    lo, hi = (mean, mean) if lo is None or hi is None else (lo, hi)
    return dict(a=a, b=b, benchmark=benchmark, family=family, delta=mean, lo=lo, hi=hi)


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _band(rows: list[dict], key: str, lo: str = "lo", hi: str = "hi") -> dict:
    """`key` averaged over rows with a t-interval band, or the one row's own band."""
    mean, low, high = mean_ci([r[key] for r in rows])
    if low is None:
        return {key: rows[0][key], lo: rows[0][lo], hi: rows[0][hi]}
    return {key: mean.tolist(), lo: low.tolist(), hi: high.tolist()}


def _mean(rows: list[dict], key: str) -> list | float:
    return mean_ci([r[key] for r in rows])[0].tolist()


def ci_phrase(reports: Sequence[Report]) -> str:
    n = len(reports)
    if n == 1:
        return "1 seed, 95% bootstrap CI"
    return f"mean of {n} seeds, 95% t-interval over seeds"


def _entries(reports: Sequence[Report], section: str, name: str) -> list[dict]:
    """Checkpoint `name`'s entry in `section` of each report that has one."""
    return [e for r in reports if (e := (r.data.get(section) or {}).get(name))]


def pooled(reports: Sequence[Report]) -> dict:
    """A report-shaped dict (for `sgt_probe.viz.views`) whose probe, attention and knockout sections
    are averaged over `reports` (seeds of one world) with t-interval bands."""
    if len(reports) == 1:
        return reports[0].data
    names = list(dict.fromkeys(n for r in reports for n in r.names))
    out: dict = {"checkpoints": [{"name": n} for n in names]}
    out |= {"probes": {}, "attention": {}, "knockout": {}}
    try:
        for n in names:
            if probes := _entries(reports, "probes", n):
                out["probes"][n] = {
                    t: _band(ps, "accuracy")
                    | {
                        k: _mean(ps, k)
                        for k in ("selectivity", "control", "majority")
                        if all(p.get(k) is not None for p in ps)
                    }  # fmt: skip
                    for t in probes[0]
                    if (ps := [p[t] for p in probes if t in p])
                }
            if att := _entries(reports, "attention", n):
                kinds = {k for a in att for k, v in a["mass"].items() if v is not None}
                out["attention"][n] = {
                    "mass": {
                        k: _mean([a["mass"] for a in att if a["mass"].get(k)], k) for k in kinds
                    },
                    **_band(att, "grounded_precision", "grounded_lo", "grounded_hi"),
                    "grounded_chance": _mean(att, "grounded_chance"),
                    "grounded_ratio": _mean(att, "grounded_ratio"),
                }
            if ko := _entries(reports, "knockout", n):
                out["knockout"][n] = _band(ko, "relative_change") | {
                    k: ko[0][k] for k in ("center", "windows")
                }
    except ValueError as e:  # ragged arrays: the reports' models differ in shape
        raise ReportError(f"cannot average these reports over seeds: {e}") from None
    return out


# ---- writing ----


def write(results: Sequence[Result], out: Path, static: bool = True) -> None:
    """Write each result's HTML page, then every figure as PNG and SVG in one browser session.

    Static export needs kaleido and a Chrome/Chromium; when it fails the HTML still stands and
    one line says why the PNG/SVG were skipped.
    """
    out.mkdir(parents=True, exist_ok=True)
    for res in results:
        page = out / f"{res.name}.html"
        blocks = [f"<h1>{escape(res.title)}</h1>", *res.html, *res.figures.values()]
        page.write_text(figure_page(res.title, blocks), encoding="utf-8")
    figs = {k: f for res in results for k, f in res.figures.items()}
    if static and figs:
        _export(figs, out)


def _export(figs: dict[str, go.Figure], out: Path) -> None:
    import plotly.io as pio

    # kaleido (through choreographer) takes the browser from BROWSER_PATH, else searches PATH
    if "BROWSER_PATH" not in os.environ and os.path.exists(CHROMIUM):
        os.environ["BROWSER_PATH"] = CHROMIUM
    paths = [out / f"{k}.{ext}" for ext in ("png", "svg") for k in figs]
    try:
        pio.write_images(
            list(figs.values()) * 2,
            paths,
            width=STATIC_WIDTH,
            scale=[2] * len(figs) + [1] * len(figs),
        )
    except Exception as e:  # any failure of an optional extra: keep the HTML, say why
        why = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"PNG/SVG export skipped ({type(e).__name__}: {why}); the HTML files are written")


# ---- command line ----


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("paths", nargs="+", help="report dirs or folders searched for report.json")
    p.add_argument("--out", required=True, type=Path, help="folder to write the outputs into")
    p.add_argument("--no-static", action="store_true", help="HTML only: skip PNG/SVG export")
    return p


def main(make: Callable[[list[Report], Path], Result], doc: str, argv=None) -> int:
    """Run one script: read the reports, make its outputs, write them; 2 on a report problem."""
    args = parser(doc.strip().splitlines()[0]).parse_args(argv)
    try:
        reports = find_reports(args.paths)
        args.out.mkdir(parents=True, exist_ok=True)
        write([make(reports, args.out)], args.out, static=not args.no_static)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"read {len(reports)} report(s); wrote {args.out}/")
    return 0
