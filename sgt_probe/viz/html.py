"""report.html: a report dir's figures on one self-contained page, for a person.

The figures are drawn by `sgt_probe.viz.views`, the functions the dashboard and analyses/ use.
plotly.js is inlined once, in the first figure: the machines that read reports are often
offline, so the page loads nothing from the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from pathlib import Path

import plotly.graph_objects as go

from sgt_probe.report.format import REPORT_HTML, Report, load_report
from sgt_probe.report.schema import MASS_KINDS, ReportData
from sgt_probe.viz import views

PLOT_CONFIG = {"displaylogo": False}
STYLE = """
body { margin: 0; font-family: system-ui, sans-serif; color: #222; background: #fafafa; }
main { max-width: 1200px; margin: 0 auto; padding: 8px 24px 40px; }
h2 { margin-top: 32px; border-bottom: 1px solid #ddd; }
.hint { color: #666; font-size: 14px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; background: #fff; }
th, td { border-bottom: 1px solid #e6e6e6; padding: 4px 12px; text-align: left; }
th { background: #f4f4f4; }
dt { font-weight: 600; margin-top: 8px; }
"""


def html_table(rows: Sequence[Mapping], formats: Mapping[str, str] | None = None) -> str:
    """An HTML table from same-keyed dicts; floats formatted by column (default .3f)."""
    if not rows:
        return ""
    formats = formats or {}
    cols = list(rows[0])

    def cell(col, value) -> str:
        if isinstance(value, float):
            return f"{value:{formats.get(col, '.3f')}}"
        return "—" if value is None else escape(str(value))

    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(c, r.get(c))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure_page(title: str, blocks: Sequence[str | go.Figure]) -> str:
    """A whole HTML document: `blocks` in order, each an HTML string or a figure."""
    parts, plotlyjs = [], True
    for block in blocks:
        if isinstance(block, go.Figure):
            parts.append(
                block.to_html(full_html=False, include_plotlyjs=plotlyjs, config=PLOT_CONFIG)
            )
            plotlyjs = False
        else:
            parts.append(block)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body><main>\n{chr(10).join(parts)}\n</main></body></html>\n"
    )


def _benchmarks(d: ReportData) -> list[str | go.Figure]:
    blocks: list[str | go.Figure] = [views.scores(d), views.deltas(d)]
    if views.n_proxies(d) > 1:
        blocks += [
            "<h3>Proxies compared (proxy-task quality: higher is better)</h3>",
            html_table(views.proxy_rows(d), {"reconstruction_psnr": ".1f"}),
        ]
    return blocks


def _probes(d: ReportData) -> list[str | go.Figure]:
    blocks: list[str | go.Figure] = []
    for target in views.probe_targets(d):
        blocks += [f'<p class="hint">{escape(views.probe_note(d, target))}</p>',
                   views.probe_accuracy(d, target), views.probe_selectivity(d, target)]  # fmt: skip
    return blocks + [views.label_free(d, kind) for kind in views.LABEL_FREE]


def _attention(d: ReportData) -> list[go.Figure]:
    return [*(views.attention_mass(d, kind) for kind in MASS_KINDS), views.grounded(d)]


def _alignment(d: ReportData) -> list[str | go.Figure]:
    blocks: list[str | go.Figure] = []
    if note := views.alignment_note(d):
        blocks.append(f'<p class="hint">{escape(note)}</p>')
    targets = dict.fromkeys(t for a in d.alignment.checkpoints.values() for t in a.lens)
    return [*blocks, views.cross_path_cka(d),
            *(views.probe_transfer(d, direction) for direction in ("read_to_draw", "draw_to_read")),
            *(views.logit_lens(d, t, path) for t in targets for path in views.PATHS)]  # fmt: skip


# heading -> the suites drawn under it, each with what it draws (the embeddings' scatter is
# interactive: it lives in the dashboard only)
SECTIONS: dict[str, dict[str, Callable[[ReportData], list]]] = {
    "Benchmarks": {"benchmarks": _benchmarks},
    "Linear separability": {"probes": _probes, "cka": lambda d: [views.cka(d)]},
    "Attention": {"attention": _attention},
    "Attention knockout": {"knockout": lambda d: [views.knockout(d)]},
    "Reading and drawing": {"alignment": _alignment},
}


def _report_blocks(report: Report) -> list[str | go.Figure]:
    d = report.data
    m = d.model
    columns = ("name", "proxy", "stage", "seed", "step", "path")
    ckpts = [{k: getattr(c, k) for k in columns} for c in d.checkpoints]
    blocks: list[str | go.Figure] = [
        f"<h1>sgt-probe report: {escape(d.data.world)} world</h1>",
        f'<p class="hint">{escape(str(report.path))}, created {escape(d.created)}; '
        f"model: {m.n_layers} layers, {m.n_heads} heads, d_model {m.d_model}, "
        f"{m.grid}×{m.grid} patches; suites run: {escape(', '.join(d.suites))}.</p>",
        "<h2>Checkpoints compared</h2>",
        f'<p class="hint">The first, {escape(d.names[0])}, is the reference for paired deltas '
        "and CKA.</p>",
        html_table(ckpts),
        # what the world could not support (a folder world: generation, the color probe)
        *(
            f'<p class="hint">{escape(what)} skipped: {escape(why)}.</p>'
            for what, why in d.skipped.items()
        ),
    ]
    for heading, drawers in SECTIONS.items():
        blocks.append(f"<h2>{heading}</h2>")
        for suite, draw in drawers.items():
            ran = suite in d.suites
            blocks += draw(d) if ran else [f'<p class="hint">{escape(views.not_run(suite))}.</p>']
    if d.definitions:
        items = "".join(
            f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in d.definitions.items()
        )
        blocks += ["<h2>Definitions</h2>", f"<dl>{items}</dl>"]
    return blocks


def write_html(report_dir: str | Path) -> Path:
    """Write REPORT_HTML into `report_dir` (whole or not at all) and return its path.

    Raises ReportError (one line) when the dir is missing or damaged.
    """
    report = load_report(report_dir)
    page = figure_page(f"sgt-probe report: {report.path}", _report_blocks(report))
    out = report.path / REPORT_HTML
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
