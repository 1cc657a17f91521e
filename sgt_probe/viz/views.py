"""Figures composed from a report: its `ReportData` plus a selection in, a plotly Figure out.

The dashboard pages, report.html (`sgt_probe.viz.html`) and the paper figures (`analyses/`)
all draw through these functions, so each number is picked out of a report in one place.
`report` is a loaded report.json, or one the analyses average over seeds (with `ci` saying
what its bands are). `only` selects the checkpoints to draw (default: all); colors always come
from the report's full checkpoint list, so a checkpoint keeps its color whichever subset a
figure shows. A figure whose suite did not run says so instead of drawing empty axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from sgt_probe.report.format import key_embed_meta, key_embedding
from sgt_probe.report.schema import OBJECT_PATCH_TARGETS, ReportData
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


def not_run(suite: str) -> str:
    """What a page says where a suite's results would be."""
    return f"the {suite} suite did not run for this report (sgt-probe compare --suites)"


def colors(report: ReportData) -> dict[str, str]:
    return figures.checkpoint_colors(report.names)


def _selected(report: ReportData, entries: Mapping, only: Sequence[str] | None) -> dict:
    """Name -> its entry in a by-checkpoint mapping, in checkpoint order, for the selection."""
    return {n: entries[n] for n in report.names if n in entries and (only is None or n in only)}


def _layers(values: Sequence) -> range:
    return range(len(values))


def _fmt(value: float | None, spec: str, suffix: str = "", prefix: str = "") -> str:
    # report.json stores a number it could not compute (NaN) as null
    return "n/a" if value is None else f"{prefix}{value:{spec}}{suffix}"


# ---- benchmarks ----


def scores(report: ReportData) -> go.Figure:
    """Accuracy per benchmark family, one bar per checkpoint."""
    if report.benchmarks is None:
        return figures.placeholder(not_run("benchmarks"))
    return figures.score_bars(_selected(report, report.benchmarks.scores, None), colors(report))


def proxy_rows(report: ReportData) -> list[dict]:
    """One row per checkpoint: its proxy, headline scores and proxy-task quality."""
    scored = report.benchmarks.scores if report.benchmarks else {}
    rows = []
    for c in report.checkpoints:
        row = {"checkpoint": c.name, "proxy": c.proxy or "none"}
        if b := scored.get(c.name):
            row |= {"understanding": b.understanding.overall, "generation": b.generation.overall}
            row |= b.proxy_quality
        rows.append(row)
    return rows


def n_proxies(report: ReportData) -> int:
    return len({c.proxy for c in report.checkpoints} - {None})


def deltas(report: ReportData) -> go.Figure:
    """Paired deltas against the reference, with their CIs."""
    if report.benchmarks is None:
        return figures.placeholder(not_run("benchmarks"))
    if not report.benchmarks.deltas:
        return figures.placeholder("one checkpoint: no paired deltas")
    return figures.delta_dots(report.benchmarks.deltas, colors(report))


# ---- separability ----


def probe_targets(report: ReportData) -> list[str]:
    """The probe targets the report has, in the order the first checkpoint lists them."""
    return list(next(iter(report.probes.targets.values()), {})) if report.probes else []


# ProbeResult.metric -> (what the y axis reads, what its floor is)
PROBE_METRICS = {
    "balanced_accuracy": ("balanced accuracy", "chance: 1/K classes"),
    "accuracy": ("accuracy", "always the commonest label"),
}


def probe_note(report: ReportData, target: str) -> str:
    """What a probe target's figure shows, in a sentence (empty without that probe)."""
    per = (
        [p[target] for p in report.probes.targets.values() if target in p] if report.probes else []
    )
    if not per:
        return ""
    p = per[0]
    rows = (
        "every image (its patches' mean)"
        if target not in OBJECT_PATCH_TARGETS
        else ("object patches only" if p.metric == "balanced_accuracy" else "every image patch")
    )
    if p.metric == "balanced_accuracy":
        score = (
            f"balanced accuracy (each class's recall, averaged); its floor, dotted, is "
            f"1/K = {_fmt(p.floor, '.3f')} for the K = {p.n_classes} classes held out"
        )
    else:
        score = f"accuracy; dotted: always the commonest label ({_fmt(p.floor, '.3f')})"
    return f"The {target.replace('_', ' ')} probe reads {rows}, scored by {score}."


def probe_accuracy(
    report: ReportData,
    target: str,
    only: Sequence[str] | None = None,
    ci: str = "95% bootstrap CI",
) -> go.Figure:
    """A probe's held-out score by layer, its CI as a band and its floor as a dotted line."""
    if report.probes is None:
        return figures.placeholder(not_run("probes"))
    probes = _selected(report, report.probes.targets, only)
    per = {n: p[target] for n, p in probes.items() if target in p}
    if not per:
        return figures.placeholder(f"no {target!r} probe in this report")
    series = {n: Series(_layers(p.accuracy), p.accuracy, p.lo, p.hi) for n, p in per.items()}
    first = next(iter(per.values()))
    metric, floor_label = PROBE_METRICS[first.metric]
    what = target.replace("_", " ")
    if first.metric == "balanced_accuracy" and target in OBJECT_PATCH_TARGETS:
        what += " (object patches)"
    floors = [p.floor for p in per.values() if p.floor is not None]
    return figures.layer_lines(
        series,
        colors(report),
        f"Probe {metric} for {what} by layer, {ci} (higher = more separable)",
        f"held-out probe {metric}",
        hline=float(np.mean(floors)) if floors else None,
        hline_label=floor_label,
    )


def probe_selectivity(
    report: ReportData, target: str, only: Sequence[str] | None = None
) -> go.Figure:
    if report.probes is None:
        return figures.placeholder(not_run("probes"))
    probes = _selected(report, report.probes.targets, only)
    # image-level probes (object_count) have no control task, so no selectivity
    per = {n: p[target] for n, p in probes.items() if target in p and p[target].selectivity}
    what = target.replace("_", " ")
    if not per:
        return figures.placeholder(f"no selectivity for {what}: its probe has no control task")
    series = {
        n: Series(
            _layers(p.selectivity),
            p.selectivity,
            hover=[_fmt(c, ".3f", prefix="control ") for c in p.control],
        )
        for n, p in per.items()
    }
    metric = PROBE_METRICS[next(iter(per.values())).metric][0]
    return figures.layer_lines(
        series,
        colors(report),
        f"Selectivity for {what}: task − control {metric} (higher = more than memorised)",
        f"selectivity ({metric} points)",
        hline=0,
    )


def label_free(report: ReportData, kind: str) -> go.Figure:
    if report.probes is None:
        return figures.placeholder(not_run("probes"))
    scores = _selected(report, report.probes.label_free, None)
    title, unit = LABEL_FREE[kind]
    return figures.layer_lines(
        {n: Series(_layers(getattr(v, kind)), getattr(v, kind)) for n, v in scores.items()},
        colors(report),
        f"Label-free separability: {title} (higher = more separable)",
        f"{title} ({unit})",
    )


def cka(report: ReportData) -> go.Figure:
    if report.cka is None:
        return figures.placeholder(not_run("cka"))
    if not report.cka.pairs:
        return figures.placeholder("one checkpoint: no CKA")
    # a pair takes the color of its tuned side, so it matches that checkpoint elsewhere
    ckpt_colors = colors(report)
    label = {f"{p.a} vs {p.b}": p for p in report.cka.pairs}
    return figures.layer_lines(
        {k: Series(_layers(p.values), p.values) for k, p in label.items()},
        {k: ckpt_colors[p.b] for k, p in label.items()},
        "Debiased linear CKA to the reference by layer (1 = same representation)",
        "CKA",
    )


# ---- reading and drawing (alignment) ----

# Transfer field -> what its lines show (the probe fitted on one path, scored on a path)
TRANSFER = {
    "read_to_draw": "read → draw (fitted reading, scored drawing)",
    "draw_to_read": "draw → read (fitted drawing, scored reading)",
    "read": "read → read (each path's own held-out score)",
    "draw": "draw → draw (each path's own held-out score)",
}
PATHS = {"read": "reading (image through the encoder)", "draw": "drawing (codes teacher-forced)"}
LENS_WORDS = {"semantic_class": "class words", "color": "color words"}


def alignment_note(report: ReportData) -> str:
    """What the reading-vs-drawing figures leave out on this report, and why (empty: nothing)."""
    kinds = ("cross-path alignment", "class lens", "color lens")
    return " ".join(f"{k} skipped: {why}." for k, why in report.skipped.items() if k in kinds)


def _alignment(report: ReportData, only: Sequence[str] | None) -> dict:
    return _selected(report, report.alignment.checkpoints, only)


def _scores(scores, hover: Sequence[str] | None = None) -> Series:
    return Series(_layers(scores.value), scores.value, scores.lo, scores.hi, hover=hover)


def cross_path_cka(
    report: ReportData, only: Sequence[str] | None = None, ci: str = "95% jackknife interval"
) -> go.Figure:
    """Each checkpoint's CKA between reading and drawing the same patches, by layer."""
    if report.alignment is None:
        return figures.placeholder(not_run("alignment"))
    per = {n: a.cka for n, a in _alignment(report, only).items() if a.cka is not None}
    if not per:
        why = report.skipped.get("cross-path alignment", "no checkpoint has it")
        return figures.placeholder(f"no cross-path CKA: {why}"[:160])
    return figures.layer_lines(
        {n: _scores(c) for n, c in per.items()},
        colors(report),
        f"Cross-path CKA by layer, {ci}",
        "CKA, reading vs drawing (1 = one representation)",
    )


def probe_transfer(
    report: ReportData,
    direction: str = "read_to_draw",
    only: Sequence[str] | None = None,
    ci: str = "95% bootstrap CI",
) -> go.Figure:
    """The object-class probe fitted on one path and scored on one path (`direction`: a
    Transfer field, fitted → scored), by layer, beside its 1/K floor; hover, for a transfer:
    the probe the scoring path fits for itself."""
    if report.alignment is None:
        return figures.placeholder(not_run("alignment"))
    per = {n: a.transfer for n, a in _alignment(report, only).items() if a.transfer is not None}
    if not per:
        why = report.skipped.get("cross-path alignment", "no checkpoint has it")
        return figures.placeholder(f"no probe transfer: {why}"[:160])
    own = {"read_to_draw": "draw", "draw_to_read": "read"}.get(direction)
    series = {}
    for n, t in per.items():
        hover = None
        if own:  # beside a transfer, what a probe fitted on the scoring path itself reaches
            hover = [_fmt(v, ".3f", prefix=f"{own}'s own probe ") for v in getattr(t, own).value]
        series[n] = _scores(getattr(t, direction), hover)
    floor = next(iter(per.values())).floor
    return figures.layer_lines(
        series,
        colors(report),
        f"Class probe {TRANSFER[direction].split(' (')[0]} by layer, {ci}",
        "held-out balanced accuracy",
        hline=floor,
        hline_label=_fmt(floor, ".2f", prefix="chance 1/K = "),
    )


def logit_lens(
    report: ReportData,
    target: str = "semantic_class",
    path: str = "read",
    only: Sequence[str] | None = None,
    ci: str = "95% bootstrap CI",
) -> go.Figure:
    """How often the logit lens's top word is a patch's class (color), by layer, one path."""
    if report.alignment is None:
        return figures.placeholder(not_run("alignment"))
    per = {n: a.lens[target] for n, a in _alignment(report, only).items() if target in a.lens}
    if not per:
        what = "class lens" if target == "semantic_class" else "color lens"
        why = report.skipped.get(what, "no checkpoint has it")
        return figures.placeholder(f"no logit lens on {LENS_WORDS[target]}: {why}"[:160])
    first = next(iter(per.values()))
    return figures.layer_lines(
        {n: _scores(getattr(lens, path)) for n, lens in per.items()},
        colors(report),
        f"Logit lens on image tokens, {PATHS[path]}: top of the {len(first.words)} "
        f"{LENS_WORDS[target]} is the patch's, by layer, {ci}",
        "balanced accuracy over object patches",
        hline=first.floor,
        hline_label=_fmt(first.floor, ".2f", prefix="chance 1/K = "),
    )


# ---- attention ----


def attention_mass(report: ReportData, kind: str, only: Sequence[str] | None = None) -> go.Figure:
    """Attention mass of one kind (query→key) by layer, averaged over heads."""
    if report.attention is None:
        return figures.placeholder(not_run("attention"))
    series = {}
    for n, a in _selected(report, report.attention.stats, only).items():
        if a.mass.get(kind) is None:  # e.g. generated->input without generated images
            continue
        per_head = np.asarray(a.mass[kind], float)  # [L, H]; null -> nan
        series[n] = Series(_layers(per_head), per_head.mean(1))
    if not series:
        return figures.placeholder(f"no {MASS_TITLES[kind]} attention mass in this report")
    return figures.layer_lines(
        series,
        colors(report),
        f"{MASS_TITLES[kind]} attention mass (query→key) by layer, mean over heads",
        "attention mass per query (0–1)",
    )


def grounded(
    report: ReportData, only: Sequence[str] | None = None, ci: str = "95% CI"
) -> go.Figure:
    """Grounded attention precision by layer beside its chance level (of the first drawn)."""
    if report.attention is None:
        return figures.placeholder(not_run("attention"))
    att = {n: a.grounded for n, a in _selected(report, report.attention.stats, only).items()}
    att = {n: g for n, g in att.items() if g is not None}
    if not att:
        return figures.placeholder("no question in this report names an object")
    series = {
        n: Series(
            _layers(g.precision),
            g.precision,
            g.lo,
            g.hi,
            hover=[_fmt(r, ".2f", suffix="× chance") for r in g.ratio],
        )
        for n, g in att.items()
    }
    chance = next(iter(att.values())).chance
    return figures.layer_lines(
        series,
        colors(report),
        f"Grounded precision: share of text→image mass on the named object, {ci}",
        "share on the named object (higher = better grounded)",
        hline=chance,
        hline_label=_fmt(chance, ".2f", prefix="chance "),
    )


# ---- knockout ----


def knockout(
    report: ReportData, only: Sequence[str] | None = None, ci: str = "95% CI"
) -> go.Figure:
    if report.knockout is None:
        return figures.placeholder(not_run("knockout"))
    series = {
        n: Series(
            k.center,
            k.relative_change,
            k.lo,
            k.hi,
            hover=[f"layers {a}–{b} blocked" for a, b in k.windows],
        )
        for n, k in _selected(report, report.knockout.curves, only).items()
    }
    if not series:
        return figures.placeholder("no knockout results for these checkpoints")
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


def embedding_labels(report: ReportData, arrays: Mapping, color_by: str) -> list[str]:
    """One legend label per embedded patch: the report's names for classes and colors when it
    has them ("circle"), else what the index is ("class 3"); background always named."""
    named = report.embeddings.labels.get(color_by, []) if report.embeddings else []
    background = EMBED_BACKGROUND[color_by]

    def label(v: int) -> str:
        if v == background:
            return "background"
        return named[v] if 0 <= v < len(named) else f"{color_by} {v}"

    return [label(v) for v in arrays[key_embed_meta(color_by)].astype(int).tolist()]


def embeddings(
    report: ReportData, arrays: Mapping, only: Sequence[str], layer: int, color_by: str
) -> go.Figure:
    """UMAP panels of image-token states at one stored layer, one per selected checkpoint."""
    if report.embeddings is None:
        return figures.placeholder(not_run("embeddings"))
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
