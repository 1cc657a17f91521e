"""Rich tables for `compare`: benchmarks with paired deltas, and layer-wise analyses."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sgt_probe.report.schema import SUITES, Delta, ReportData, Scores


def _f(x: float | None, digits: int = 3, sign: str = "") -> str:
    return "—" if x is None else f"{x:{sign}.{digits}f}"


def _delta(d: Delta | None) -> str:
    if d is None or d.delta is None:
        return ""
    sign = "[green]" if (d.lo or 0) > 0 else "[red]" if (d.hi or 0) < 0 else ""
    end = "[/]" if sign else ""
    return f"{sign}{d.delta:+.3f} ({_f(d.lo, 2, '+')},{_f(d.hi, 2, '+')}){end}"


def _score(s: Scores, family: str) -> str:
    """A family's accuracy (or the overall one), its floor beside it when there is one."""

    def pick(x) -> float | None:
        return x.overall if family == "overall" else x.families.get(family)

    return _f(pick(s)) + (f" [dim]{escape(f'[{_f(pick(s.floor), 2)}]')}[/]" if s.floor else "")


def benchmark_table(report: ReportData) -> Table:
    bench = report.benchmarks
    names = report.names
    ref = names[0]
    deltas = {(d.b, d.benchmark, d.family): d for d in bench.deltas}
    t = Table(title=f"benchmarks [floor: the input ignored] (Δ vs {ref}: paired, 95% CI)",
              min_width=60)  # fmt: skip
    t.add_column("benchmark")
    t.add_column("family")
    for n in names:
        t.add_column(n, justify="right")
        if n != ref:
            t.add_column(f"Δ {n}", justify="right")
    for kind in ("understanding", "generation"):
        if kind in report.skipped:  # no scores to show: print_report says why
            continue
        for fam in ["overall", *getattr(bench.scores[ref], kind).families]:
            row = [kind if fam == "overall" else "", fam]
            for n in names:
                s = getattr(bench.scores[n], kind)
                row.append(_score(s, fam))
                if n != ref:
                    row.append(_delta(deltas.get((n, kind, fam))))
            t.add_row(*row, style="bold" if fam == "overall" else None)
    if bench.leak:  # generated scenes the leak detector calls a proxy's map
        row = ["proxy leak", "scenes drawn as maps"]
        for n in names:
            row += [_f(bench.leak[n].map_rate)] + ([""] if n != ref else [])
        t.add_row(*row)
    metrics = sorted({k for n in names for k in bench.scores[n].proxy_quality})
    for k in metrics:
        row = ["proxy", k]
        for n in names:
            row.append(_f(bench.scores[n].proxy_quality.get(k)))
            if n != ref:
                row.append("")
        t.add_row(*row)
    return t


def _layer_columns(report: ReportData) -> dict[str, Callable[[str, int], str]]:
    """Column title -> the cell for (checkpoint, layer), for the suites that ran."""
    cols: dict[str, Callable[[str, int], str]] = {}
    if probes := report.probes:

        def probe(n: str, layer: int) -> str:
            p = probes.targets[n]["semantic_class"]
            return f"{_f(p.accuracy[layer])} ({_f(p.lo[layer])}-{_f(p.hi[layer])})"

        first = probes.targets[report.names[0]]["semantic_class"]
        title = "class probe" if first.metric == "accuracy" else "class probe bal. acc."
        cols[escape(f"{title} [floor {_f(first.floor, 2)}]")] = probe
        cols["select."] = lambda n, layer: _f(
            probes.targets[n]["semantic_class"].selectivity[layer]
        )
    if attention := report.attention:

        def mass(n: str, layer: int) -> str:
            per_head = attention.stats[n].mass["text->image"][layer]
            return _f(float(np.mean(np.asarray(per_head, float))))

        def grounded(n: str, layer: int) -> str:
            g = attention.stats[n].grounded
            return _f(g.ratio[layer], 2) if g else "—"

        cols["t→i mass"], cols["grounded×"] = mass, grounded
    if report.cka:
        cka = {p.b: p.values for p in report.cka.pairs}
        cols["CKA"] = lambda n, layer: _f(cka[n][layer]) if n in cka else ""
    if knockout := report.knockout:
        cols["knockout"] = lambda n, layer: _f(knockout.curves[n].relative_change[layer], sign="+")
    if report.alignment and any(a.cka for a in report.alignment.checkpoints.values()):
        paths = report.alignment.checkpoints
        cols["read↔draw CKA"] = lambda n, layer: _f(paths[n].cka.value[layer])
        cols["probe read→draw"] = lambda n, layer: _f(paths[n].transfer.read_to_draw.value[layer])
    return cols


def layer_table(report: ReportData) -> Table:
    names = report.names
    cols = _layer_columns(report)
    t = Table(title="by layer: class probe (95% CI) / selectivity, text→image mass, "
              "grounded precision ÷ chance, CKA vs first, knockout Δp/p, reading vs "
              "drawing")  # fmt: skip
    t.add_column("layer", justify="right")
    t.add_column("checkpoint")
    for title in cols:
        t.add_column(title, justify="right")
    for layer in range(report.model.n_layers):
        for n in names:
            cells = [cell(n, layer) for cell in cols.values()]
            t.add_row(str(layer) if n == names[0] else "", n, *cells, end_section=n == names[-1])
    return t


def print_report(report: ReportData, console: Console | None = None) -> None:
    # Piped output (a log, CI) would otherwise be cut to 80 columns and wrap every cell.
    console = console or Console(width=None if Console().is_terminal else 160)
    if report.benchmarks:
        console.print(benchmark_table(report))
    if _layer_columns(report):
        console.print(layer_table(report))
    not_run = [s for s in SUITES if s not in report.suites]
    if not_run:
        console.print(f"not run (sgt-probe compare --suites): {', '.join(not_run)}")
    for what, why in report.skipped.items():
        console.print(f"{what} skipped: {why}")
