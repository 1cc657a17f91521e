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
from sgt_probe.report.schema import (
    SUITES,
    Attention,
    AttentionStats,
    Delta,
    Grounded,
    Knockout,
    KnockoutCurve,
    LabelFree,
    ProbeResult,
    Probes,
    ReportData,
)
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
    return report.data.data.world


def require(reports: Sequence[Report], suite: str) -> None:
    """ReportError naming the first report in which `suite` did not run: a figure drawn from
    the others would silently leave that seed out."""
    for r in reports:
        r.need(suite)


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
    seeds = {c.seed for c in report.data.checkpoints if c.proxy} - {None}
    return seeds.pop() if len(seeds) == 1 else report.data.data.seed


def colors(reports: Sequence[Report]) -> dict[str, str]:
    """Checkpoint colors over all reports, assigned as `sgt_probe.viz.views.colors` assigns them."""
    return checkpoint_colors(list(dict.fromkeys(n for r in reports for n in r.names)))


def low_level(reports: Sequence[Report]) -> list[str]:
    """The one low-level proxy to show beside segmentation: the first of LOW_LEVEL present."""
    return present(reports, LOW_LEVEL)[:1]


def shown(reports: Sequence[Report], wanted: Sequence[str], world: str) -> list[str]:
    """The checkpoints a by-layer figure of one world draws: those of `wanted` present, then
    the low-level proxy; a world with none of them is a one-line error."""
    names = present(reports, wanted) + low_level(reports)
    if not names:
        raise ReportError(f"{world}: none of {', '.join(wanted)} or a low-level proxy present")
    return names


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


def dot(a: str, b: str, benchmark: str, family: str, mean, lo, hi) -> Delta:
    """One entry for `figures.delta_dots`: b's change vs a; one seed has no interval, so its
    dot is drawn bare."""
    lo, hi = (mean, mean) if lo is None or hi is None else (lo, hi)
    return Delta(a=a, b=b, benchmark=benchmark, family=family, delta=mean, lo=lo, hi=hi)


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def ci_phrase(reports: Sequence[Report]) -> str:
    n = len(reports)
    if n == 1:
        return "1 seed, 95% bootstrap CI"
    return f"mean of {n} seeds, 95% t-interval over seeds"


def _mean(values: list) -> list | float | None:
    """Elementwise mean over seeds; None when a seed lacks the value."""
    if any(v is None for v in values):
        return None
    return mean_ci(values)[0].tolist()


def _band(values: list, lows: list, highs: list) -> tuple[list, list, list]:
    """Per-layer values of several seeds -> (mean, lo, hi) with the t-interval over seeds, or
    the one seed's own band."""
    mean, lo, hi = mean_ci(values)
    if lo is None:
        return values[0], lows[0], highs[0]
    return mean.tolist(), lo.tolist(), hi.tolist()


def _probe(ps: list[ProbeResult]) -> ProbeResult:
    metrics = {p.metric for p in ps}
    if len(metrics) > 1:  # a report before schema 4 among them: its numbers mean another thing
        raise ReportError(f"cannot average probes scored by {' and '.join(sorted(metrics))}; "
                          "rerun sgt-probe compare on the older reports")  # fmt: skip
    accuracy, lo, hi = _band([p.accuracy for p in ps], [p.lo for p in ps], [p.hi for p in ps])
    n_classes = {p.n_classes for p in ps}
    return ProbeResult(metric=ps[0].metric, accuracy=accuracy, lo=lo, hi=hi,
                       C=_mean([p.C for p in ps]), majority=_mean([p.majority for p in ps]),
                       floor=_mean([p.floor for p in ps]),
                       n_classes=n_classes.pop() if len(n_classes) == 1 else None,
                       control=_mean([p.control for p in ps]),
                       selectivity=_mean([p.selectivity for p in ps]))  # fmt: skip


def _attention(stats: list[AttentionStats]) -> AttentionStats:
    kinds = dict.fromkeys(k for a in stats for k, v in a.mass.items() if v is not None)
    mass = {k: _mean([a.mass[k] for a in stats if a.mass.get(k) is not None]) for k in kinds}
    grounded = [a.grounded for a in stats]
    pooled = None
    if all(g is not None for g in grounded):
        precision, lo, hi = _band(
            *([getattr(g, k) for g in grounded] for k in ("precision", "lo", "hi"))
        )
        pooled = Grounded(precision=precision, lo=lo, hi=hi,
                          chance=_mean([g.chance for g in grounded]),
                          ratio=_mean([g.ratio for g in grounded]),
                          n=sum(g.n for g in grounded))  # fmt: skip
    return AttentionStats(mass=mass, entropy=_mean([a.entropy for a in stats]), grounded=pooled)


def _knockout(curves: list[KnockoutCurve]) -> KnockoutCurve:
    change, lo, hi = _band(
        *([getattr(k, f) for k in curves] for f in ("relative_change", "lo", "hi"))
    )
    first = curves[0]
    return KnockoutCurve(windows=first.windows, center=first.center, relative_change=change,
                         lo=lo, hi=hi)  # fmt: skip


def pooled(reports: Sequence[Report]) -> ReportData:
    """The first report with its probe, attention and knockout sections averaged over
    `reports` (seeds of one world), bands the t-interval over seeds; its other sections are
    left out. One report is returned as it is."""
    if len(reports) == 1:
        return reports[0].data
    # every checkpoint any report has, in order of first appearance
    checkpoints = list({c.name: c for r in reports for c in r.data.checkpoints}.values())
    names = [c.name for c in checkpoints]
    sections: dict = {}

    def per_name(get) -> dict[str, list]:
        """name -> its entries over the reports whose suite ran and that have it."""
        found = {n: [e[n] for r in reports if (e := get(r.data)) is not None and n in e]
                 for n in names}  # fmt: skip
        return {n: v for n, v in found.items() if v}

    try:
        if probes := per_name(lambda d: d.probes.targets if d.probes else None):
            sections["probes"] = Probes(
                targets={
                    n: {t: _probe([p[t] for p in ps if t in p]) for t in ps[0]}
                    for n, ps in probes.items()
                },  # fmt: skip
                label_free={
                    n: LabelFree(
                        fisher=_mean([s.fisher for s in ls]),
                        silhouette=_mean([s.silhouette for s in ls]),
                    )  # fmt: skip
                    for n, ls in per_name(
                        lambda d: d.probes.label_free if d.probes else None
                    ).items()
                },
            )
        if stats := per_name(lambda d: d.attention.stats if d.attention else None):
            # the explorer's samples are one seed's questions: nothing to average
            stats = {n: _attention(a) for n, a in stats.items()}
            sections["attention"] = Attention(stats=stats, explorer=[])
        if curves := per_name(lambda d: d.knockout.curves if d.knockout else None):
            sections["knockout"] = Knockout(curves={n: _knockout(k) for n, k in curves.items()})
    except ValueError as e:  # ragged arrays: the reports' models differ in shape
        raise ReportError(f"cannot average these reports over seeds: {e}") from None
    empty = dict.fromkeys(SUITES)
    return reports[0].data.model_copy(
        update={**empty, **sections, "checkpoints": checkpoints, "suites": list(sections)}
    )


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
