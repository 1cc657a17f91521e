"""Figures composed from a report: report.json's dict plus a selection in, a plotly Figure out.

The dashboard pages, report.html (`sgt_probe.viz.html`) and the paper figures (`analyses/`)
all draw through these functions, so each number is picked out of a report in one place.
`report` is always the parsed report.json (`Report.data`), or a dict of the same shape (the
analyses pass one averaged over seeds, with `ci` saying what its bands are). `only` selects the
checkpoints to draw (default: all); colors always come from the report's full checkpoint list,
so a checkpoint keeps its color whichever subset a figure shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from sgt_probe.report.format import key_embedding
from sgt_probe.viz import figures
from sgt_probe.viz.figures import Series

MASS_TITLES = {
    "text->image": "text→image",
    "image->image": "image→image",
    "text->text": "text→text",
    "generated->input": "generated-image→input-image",
    "sink": "first-token (sink)",
}
LABEL_FREE = {  # name, what it measures
    "fisher": ("Fisher ratio", "between- / within-class variance"),
    "silhouette": ("silhouette score", "−1 to 1"),
}
# the index of "background" in each embeddings/meta array
EMBED_BACKGROUND = {"class": 0, "color": -1, "depth": 0}


def names(report: Mapping) -> list[str]:
    return [c["name"] for c in report["checkpoints"]]


def colors(report: Mapping) -> dict[str, str]:
    return figures.checkpoint_colors(names(report))


def _selected(report: Mapping, section: str, only: Sequence[str] | None) -> dict:
    """Name -> the report's `section` entry, in checkpoint order, for the selected names."""
    entries = report.get(section) or {}
    return {n: entries[n] for n in names(report) if entries.get(n) and (only is None or n in only)}


def _layers(values: Sequence) -> range:
    return range(len(values))


def _fmt(value: float | None, spec: str, suffix: str = "", prefix: str = "") -> str:
    # report.json stores a number it could not compute (NaN) as null
    return "n/a" if value is None else f"{prefix}{value:{spec}}{suffix}"


# ---- benchmarks ----


def scores(report: Mapping) -> go.Figure:
    """Accuracy per benchmark family, one bar per checkpoint."""
    return figures.score_bars({n: report["benchmarks"][n] for n in names(report)}, colors(report))


def proxy_rows(report: Mapping) -> list[dict]:
    """One row per checkpoint: its proxy, headline scores and proxy-task quality."""
    rows = []
    for c in report["checkpoints"]:
        b = report["benchmarks"].get(c["name"], {})
        row = {
            "checkpoint": c["name"],
            "proxy": c.get("proxy") or "none",
            "understanding": b.get("understanding", {}).get("overall"),
            "generation": b.get("generation", {}).get("overall"),
        }
        row.update(b.get("proxy_quality", {}))
        rows.append(row)
    return rows


def n_proxies(report: Mapping) -> int:
    return len({c.get("proxy") for c in report["checkpoints"]} - {None})


def deltas(report: Mapping) -> go.Figure:
    """Paired deltas against the reference, with their CIs."""
    rows = report.get("deltas") or []
    if not rows:
        return figures.placeholder("one checkpoint: no paired deltas")
    return figures.delta_dots(rows, colors(report))


# ---- separability ----


def _probes(report: Mapping, target: str, only: Sequence[str] | None) -> dict:
    return {n: p[target] for n, p in _selected(report, "probes", only).items() if target in p}


def probe_accuracy(
    report: Mapping,
    target: str,
    only: Sequence[str] | None = None,
    ci: str = "95% bootstrap CI",
) -> go.Figure:
    per = _probes(report, target, only)
    if not per:
        return figures.placeholder(f"no {target!r} probe in this report")
    series = {
        n: Series(_layers(p["accuracy"]), p["accuracy"], p["lo"], p["hi"]) for n, p in per.items()
    }
    what = target.replace("_", " ")
    majority = [p["majority"] for p in per.values() if p.get("majority") is not None]
    return figures.layer_lines(
        series,
        colors(report),
        f"Probe accuracy for {what} by layer, {ci} (higher = more separable)",
        "held-out probe accuracy",
        hline=float(np.mean(majority)) if majority else None,
        hline_label="always the commonest label",
    )


def probe_selectivity(report: Mapping, target: str, only: Sequence[str] | None = None) -> go.Figure:
    # image-level probes (object_count) have no control task, so no selectivity
    per = {n: p for n, p in _probes(report, target, only).items() if "selectivity" in p}
    if not per:
        what = target.replace("_", " ")
        return figures.placeholder(f"no selectivity for {what}: its probe has no control task")
    series = {
        n: Series(
            _layers(p["selectivity"]),
            p["selectivity"],
            hover=[_fmt(c, ".3f", prefix="control ") for c in p["control"]],
        )
        for n, p in per.items()
    }
    what = target.replace("_", " ")
    return figures.layer_lines(
        series,
        colors(report),
        f"Selectivity for {what}: task − control accuracy (higher = more than memorised)",
        "selectivity (accuracy points)",
        hline=0,
    )


def label_free(report: Mapping, kind: str) -> go.Figure:
    scores = _selected(report, "label_free", None)
    if not scores:
        return figures.placeholder("no label-free scores in this report")
    title, unit = LABEL_FREE[kind]
    return figures.layer_lines(
        {n: Series(_layers(v[kind]), v[kind]) for n, v in scores.items()},
        colors(report),
        f"Label-free separability: {title} (higher = more separable)",
        f"{title} ({unit})",
    )


def cka(report: Mapping) -> go.Figure:
    pairs = report.get("cka") or []
    if not pairs:
        return figures.placeholder("one checkpoint: no CKA")
    # a pair takes the color of its tuned side, so it matches that checkpoint elsewhere
    ckpt_colors = colors(report)
    label = {f"{p['a']} vs {p['b']}": p for p in pairs}
    return figures.layer_lines(
        {k: Series(_layers(p["values"]), p["values"]) for k, p in label.items()},
        {k: ckpt_colors[p["b"]] for k, p in label.items()},
        "Debiased linear CKA to the reference by layer (1 = same representation)",
        "CKA",
    )


# ---- attention ----


def attention_mass(report: Mapping, kind: str, only: Sequence[str] | None = None) -> go.Figure:
    """Attention mass of one kind (query→key) by layer, averaged over heads."""
    series = {}
    for n, a in _selected(report, "attention", only).items():
        if a["mass"].get(kind) is None:  # e.g. generated->input without generated images
            continue
        per_head = np.asarray(a["mass"][kind], float)  # [L, H]
        series[n] = Series(_layers(per_head), per_head.mean(1))
    if not series:
        return figures.placeholder(f"no {MASS_TITLES[kind]} attention mass in this report")
    return figures.layer_lines(
        series,
        colors(report),
        f"{MASS_TITLES[kind]} attention mass (query→key) by layer, mean over heads",
        "attention mass per query (0–1)",
    )


def grounded(report: Mapping, only: Sequence[str] | None = None, ci: str = "95% CI") -> go.Figure:
    """Grounded attention precision by layer beside its chance level (of the first drawn)."""
    att = _selected(report, "attention", only)
    if not att:
        return figures.placeholder("no attention results in this report")
    series = {
        n: Series(
            _layers(a["grounded_precision"]),
            a["grounded_precision"],
            a["grounded_lo"],
            a["grounded_hi"],
            hover=[_fmt(r, ".2f", suffix="× chance") for r in a["grounded_ratio"]],
        )
        for n, a in att.items()
    }
    chance = next(iter(att.values()))["grounded_chance"]
    return figures.layer_lines(
        series,
        colors(report),
        f"Grounded precision: share of text→image mass on the named object, {ci}",
        "share on the named object (higher = better grounded)",
        hline=chance,
        hline_label=_fmt(chance, ".2f", prefix="chance "),
    )


# ---- knockout ----


def knockout(report: Mapping, only: Sequence[str] | None = None, ci: str = "95% CI") -> go.Figure:
    runs = _selected(report, "knockout", only)
    if not runs:
        return figures.placeholder("no knockout results in this report")
    series = {
        n: Series(
            k["center"],
            k["relative_change"],
            k["lo"],
            k["hi"],
            hover=[f"layers {a}–{b} blocked" for a, b in k["windows"]],
        )
        for n, k in runs.items()
    }
    return figures.layer_lines(
        series,
        colors(report),
        "Relative change in p(correct answer) when text→image attention is knocked out, "
        f"{ci} (lower = window matters more)",
        "(p_new − p_base) / p_base",
        x_title="centre layer of the knocked-out window",
        hline=0,
    )


# ---- embeddings ----


def embedding_labels(report: Mapping, arrays: Mapping, color_by: str) -> list[str]:
    """One legend label per embedded patch: the report's names for classes and colors when it
    has them ("circle"), else what the index is ("class 3"); background always named."""
    named = ((report.get("embeddings") or {}).get("labels") or {}).get(color_by) or []
    background = EMBED_BACKGROUND[color_by]

    def label(v: int) -> str:
        if v == background:
            return "background"
        return named[v] if 0 <= v < len(named) else f"{color_by} {v}"

    return [label(v) for v in arrays[f"embeddings/meta/{color_by}"].astype(int).tolist()]


def embeddings(
    report: Mapping, arrays: Mapping, only: Sequence[str], layer: int, color_by: str
) -> go.Figure:
    """UMAP panels of image-token states at one stored layer, one per selected checkpoint."""
    coords = {}
    for n in only:
        key = key_embedding(n, layer)
        if key not in arrays:
            raise KeyError(f"the report's arrays have no {key!r}")
        coords[n] = arrays[key]
    return figures.embedding_scatter(
        coords,
        embedding_labels(report, arrays, color_by),
        colors(report),
        f"UMAP of image-token hidden states at layer {layer}, colored by {color_by} "
        "(tighter, farther-apart groups = more separable)",
    )
