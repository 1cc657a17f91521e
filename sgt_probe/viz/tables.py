"""Rich tables for `compare`: benchmarks with paired deltas, and layer-wise analyses."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _f(x, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _delta(d: dict | None) -> str:
    if d is None:
        return ""
    sign = "[green]" if d["lo"] > 0 else "[red]" if d["hi"] < 0 else ""
    end = "[/]" if sign else ""
    return f"{sign}{d['delta']:+.3f} ({d['lo']:+.2f},{d['hi']:+.2f}){end}"


def benchmark_table(report: dict) -> Table:
    names = [c["name"] for c in report["checkpoints"]]
    ref = names[0]
    deltas = {(d["b"], d["benchmark"], d["family"]): d for d in report["deltas"]}
    t = Table(title=f"benchmarks (Δ vs {ref}: paired, 95% CI)", min_width=60)
    t.add_column("benchmark")
    t.add_column("family")
    for n in names:
        t.add_column(n, justify="right")
        if n != ref:
            t.add_column(f"Δ {n}", justify="right")
    for bench in ("understanding", "generation"):
        fams = ["overall", *report["benchmarks"][ref][bench]["families"]]
        for fam in fams:
            row = [bench if fam == "overall" else "", fam]
            for n in names:
                b = report["benchmarks"][n][bench]
                row.append(_f(b["overall"] if fam == "overall" else b["families"].get(fam)))
                if n != ref:
                    row.append(_delta(deltas.get((n, bench, fam))))
            t.add_row(*row, style="bold" if fam == "overall" else None)
    metrics = sorted({k for n in names for k in report["benchmarks"][n]["proxy_quality"]})
    for k in metrics:
        row = ["proxy", k]
        for n in names:
            row.append(_f(report["benchmarks"][n]["proxy_quality"].get(k)))
            if n != ref:
                row.append("")
        t.add_row(*row)
    return t


def layer_table(report: dict) -> Table:
    names = [c["name"] for c in report["checkpoints"]]
    n_layers = report["model"]["n_layers"]
    t = Table(title="by layer: probe accuracy [95% CI] / selectivity, text→image mass, "
              "grounded precision ÷ chance, CKA vs first, knockout Δp/p")  # fmt: skip
    t.add_column("layer", justify="right")
    t.add_column("checkpoint")
    for col in ("class probe", "select.", "t→i mass", "grounded×", "CKA", "knockout"):
        t.add_column(col, justify="right")
    cka = {c["b"]: c["values"] for c in report["cka"]}
    for layer in range(n_layers):
        for n in names:
            p = report["probes"][n]["semantic_class"]
            att = report["attention"][n]
            mass = att["mass"]["text->image"][layer]
            ko = report["knockout"][n]
            t.add_row(
                str(layer) if n == names[0] else "", n,
                f"{p['accuracy'][layer]:.3f} ({p['lo'][layer]:.3f}-{p['hi'][layer]:.3f})",
                _f(p["selectivity"][layer]),
                _f(sum(mass) / len(mass)),
                _f(att["grounded_ratio"][layer], 2) if att.get("grounded_ratio") else "—",
                _f(cka[n][layer]) if n in cka else "",
                f"{ko['relative_change'][layer]:+.3f}",
                end_section=n == names[-1],
            )  # fmt: skip
    return t


def print_report(report: dict, console: Console | None = None) -> None:
    # Piped output (a log, CI) would otherwise be cut to 80 columns and wrap every cell.
    console = console or Console(width=None if Console().is_terminal else 160)
    console.print(benchmark_table(report))
    console.print(layer_table(report))
