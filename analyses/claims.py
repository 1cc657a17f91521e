"""The claims scorecard: the paper's claims tested on a study's reports (study.json and its
markdown table, written beside the study's figures; no paper-recipe study has finished yet, so
docs/study/ holds none).

Each claim is a statistic computed per run (one world and seed: one report), combined over
seeds into a mean with a 95% interval, and given a verdict by `report.study.RULE` from that
interval alone. Every comparison is against the `none` control of the same run, tuned for the
same steps on the base tasks alone (the paper's SFT-only arm), never against the untuned base.

Runs are told apart by what their tuned checkpoints say of themselves (report `Checkpoint`:
recipe and settings): the main arm (the study's recipe, every proxy), the other recipe's arm
(sensitivity rows), the data-scaling arm (segmentation with `proxy_scenes` budgets) and the
few-label arm (`few_label_scenes`).

Intervals (INTERVAL_METHOD): per world, a t-interval over seeds; over worlds, the mean of the
per-world means with its variance from the per-world variances and Welch-Satterthwaite degrees
of freedom (the world is a stratum, not noise to average over). An arm with one seed per world
has no seed interval: its rows use a bootstrap over held-out scenes within each run (resampled
together for every checkpoint of the run), which covers item sampling only, said in the row.

    python -m sgt_probe.analyses.claims STUDY_DIR --out DIR
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy import stats as scipy_stats

from sgt_probe.analyses import common
from sgt_probe.data.scene import (
    FEW_LABEL_FAMILIES,
    PERCEPTION_FAMILIES,
    REASONING_FAMILIES,
    SCORED_FAMILIES,
)
from sgt_probe.model.config import DEFAULT_RECIPE, preset
from sgt_probe.report.format import Report, ReportError
from sgt_probe.report.study import (
    RULE,
    STUDY_VERSION,
    Claim,
    CurvePoint,
    LayerCurve,
    SeedDelta,
    Study,
    claims_markdown,
    scorecard_rows,
    verdict,
    write_study,
)
from sgt_probe.viz.html import html_table

CONTROL = "none"
# the paper's hierarchy of proxies (claim 1): pixel level, then mid level, then semantic
LEVELS = {"reconstruction": 0, "inpainting": 0, "edge": 1, "depth": 2, "segmentation": 3}
SGT = "segmentation"
N_BOOT = 1000
INTERVAL_METHOD = (
    "per world, a 95% t-interval over seeds; over worlds, the mean of the per-world means, its "
    "variance the sum of the per-world variances of the mean over the number of worlds "
    "squared, with Welch-Satterthwaite degrees of freedom. An arm with one seed per world: a "
    "95% percentile bootstrap over held-out scenes (resampled together for every checkpoint "
    f"of a run, {N_BOOT} draws), which leaves tuning variance out."
)


# ---- one run's numbers, on its scenes or a resample of them ----


class View:
    """One report's benchmark scores recomputed from its per-item verdicts, for B scene
    weightings at once: `weights` [B, n_scenes] counts how often each held-out scene is drawn
    (one row of ones: the report's own scores). Every method returns [B]."""

    def __init__(self, report: Report, weights: np.ndarray | None = None):
        b = report.need("benchmarks")
        if b.answers is None:
            raise ReportError(f"{report.path}: no per-item answers (a report before version 5); "
                              "rerun sgt-probe compare")  # fmt: skip
        self.report = report
        answer_scenes = np.array([it.scene for it in b.answers.items])
        gen_scenes = np.array([it.scene if it.scene is not None else -1 for it in
                               b.generations.items])  # fmt: skip
        self.scenes = np.unique(answer_scenes)
        if weights is None:
            weights = np.ones((1, len(self.scenes)))
        column = {s: i for i, s in enumerate(self.scenes)}
        self.u_weights = weights[:, [column[s] for s in answer_scenes]]  # [B, n_items]
        self.g_weights = weights[:, [column.get(s, 0) for s in gen_scenes]] if len(
            gen_scenes) else np.zeros((len(weights), 0))  # fmt: skip
        self.u_family = np.array([it.family for it in b.answers.items])
        self.g_family = np.array([it.family for it in b.generations.items])
        self.answers, self.verdicts = b.answers.correct, b.generations.verdicts

    def _family(self, correct, weights, families, family) -> np.ndarray:
        sel = families == family
        w = weights[:, sel]
        with np.errstate(invalid="ignore", divide="ignore"):
            return (w @ np.asarray(correct, dtype=float)[sel]) / w.sum(1)

    def understanding(self, name: str, family: str = "overall") -> np.ndarray:
        if family != "overall":
            return self._family(self.answers[name], self.u_weights, self.u_family, family)
        present = [f for f in SCORED_FAMILIES if f in set(self.u_family)]
        return np.mean([self.understanding(name, f) for f in present], axis=0)

    def generation(self, name: str, family: str = "overall") -> np.ndarray:
        if name not in self.verdicts or not len(self.g_family):
            return np.full(len(self.u_weights), np.nan)
        if family != "overall":
            return self._family(self.verdicts[name], self.g_weights, self.g_family, family)
        present = list(dict.fromkeys(self.g_family))
        return np.mean([self.generation(name, f) for f in present], axis=0)


def resampled(report: Report, n_boot: int, seed: int) -> View:
    """A View over n_boot resamples of the report's held-out scenes (with replacement)."""
    n = len(View(report).scenes)
    draws = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    weights = np.stack([np.bincount(row, minlength=n) for row in draws]).astype(float)
    return View(report, weights)


# ---- which run is which ----


@dataclass(frozen=True)
class Run:
    report: Report
    world: str
    seed: int
    recipe: str
    arm: str  # main | scaling | few-label (the recipe tells main from sensitivity)

    def name(self, proxy: str, **settings) -> str | None:
        """The checkpoint tuned with `proxy` and exactly `settings` (none: a plain one)."""
        for c in self.report.data.checkpoints:
            if (
                c.proxy == proxy
                and {k: c.settings.get(k) for k in settings} == settings
                and (settings or not ({"proxy_scenes", "few_label_scenes"} & set(c.settings)))
            ):
                return c.name
        return None


def classify(report: Report) -> Run | None:
    """The report's run: world, seed, recipe and arm; None when it holds no tuned checkpoint."""
    tuned = [c for c in report.data.checkpoints if c.stage == "tune" or c.proxy]
    if not tuned:
        return None
    recipes = {c.recipe or DEFAULT_RECIPE for c in tuned}
    settings = {k for c in tuned for k in c.settings}
    arm = ("scaling" if "proxy_scenes" in settings else
           "few-label" if "few_label_scenes" in settings else "main")  # fmt: skip
    return Run(report, common.world(report), common.run_seed(report), sorted(recipes)[0], arm)


# ---- the claims, each a statistic per run ----


def hierarchy(run: Run, view: View) -> np.ndarray:
    """Least-squares slope of each proxy's understanding change vs `none` on its level."""
    present = [p for p in LEVELS if run.name(p)]
    if len(present) < 2 or not run.name(CONTROL):
        return np.full(len(view.u_weights), np.nan)
    x = np.array([LEVELS[p] for p in present], dtype=float)
    y = np.stack(
        [view.understanding(run.name(p)) - view.understanding(run.name(CONTROL)) for p in present],
        axis=1,
    )  # fmt: skip  [B, P]
    xc = x - x.mean()
    return (y - y.mean(1, keepdims=True)) @ xc / (xc @ xc)


def perception_not_reasoning(run: Run, view: View) -> np.ndarray:
    """Segmentation's change vs `none` averaged over the perception families, minus its change
    on the reasoning family."""
    seg, none = run.name(SGT), run.name(CONTROL)
    fams = set(view.u_family)
    perception = [f for f in PERCEPTION_FAMILIES if f in fams and f in SCORED_FAMILIES]
    reasoning = [f for f in REASONING_FAMILIES if f in fams]
    if not (seg and none and perception and reasoning):
        return np.full(len(view.u_weights), np.nan)

    def change(f):
        return view.understanding(seg, f) - view.understanding(none, f)

    return np.mean([change(f) for f in perception], 0) - np.mean([change(f) for f in reasoning], 0)


def _generation_changes(run: Run, view: View, family: str) -> list[np.ndarray]:
    none = run.name(CONTROL)
    return [view.generation(run.name(p), family) - view.generation(none, family)
            for p in LEVELS if run.name(p)]  # fmt: skip


def spatial_fidelity(run: Run, view: View) -> np.ndarray:
    """Each proxy's change vs `none` on position prompts, mean over the proxies."""
    changes = _generation_changes(run, view, "position")
    return np.mean(changes, 0) if changes else np.full(len(view.u_weights), np.nan)


def position_most(run: Run, view: View) -> np.ndarray:
    """Mean over proxies of (change on position prompts - mean change on the other families)."""
    others = [f for f in dict.fromkeys(view.g_family) if f != "position"]
    if not others:
        return np.full(len(view.u_weights), np.nan)
    position = _generation_changes(run, view, "position")
    rest = np.mean([_generation_changes(run, view, f) for f in others], axis=0)  # [P, B]
    return np.mean(np.array(position) - rest, axis=0)


def scaling_slope(run: Run, view: View) -> np.ndarray:
    """Slope of segmentation's understanding change vs `none` on log2 of its distinct proxy
    scenes (the budgets, and the unlimited run at the scenes it drew)."""
    points = _scaling_points(run, view)
    if len(points) < 2:
        return np.full(len(view.u_weights), np.nan)
    x = np.log2([x for x, _ in points])
    xc = x - x.mean()
    y = np.stack([v for _, v in points], axis=1)
    return (y - y.mean(1, keepdims=True)) @ xc / (xc @ xc)


def _scaling_points(run: Run, view: View) -> list[tuple[int, np.ndarray]]:
    none = run.name(CONTROL)
    if none is None:
        return []
    out = []
    for c in run.report.data.checkpoints:
        if c.proxy != SGT:
            continue
        budget = c.settings.get("proxy_scenes") or _drawn_scenes(run)
        out.append((int(budget), view.understanding(c.name) - view.understanding(none)))
    return sorted(out, key=lambda p: p[0])


def _drawn_scenes(run: Run) -> int:
    """Proxy items an unlimited tuning draws (each on a fresh scene of a million): its steps
    times the proxy items per batch."""
    cfg = preset(run.report.data.model.preset).recipe(run.recipe)
    return cfg.steps * round(cfg.batch_size * cfg.proxy_ratio)


def few_label_transfer(run: Run, view: View) -> np.ndarray:
    """Mean over label budgets N of the few-label family's accuracy with segmentation minus
    without it."""
    pairs = _few_label_pairs(run)
    if not pairs:
        return np.full(len(view.u_weights), np.nan)
    family = FEW_LABEL_FAMILIES[0]
    return np.mean([view.understanding(s, family) - view.understanding(n, family)
                    for _, s, n in pairs], axis=0)  # fmt: skip


def _few_label_pairs(run: Run) -> list[tuple[int, str, str]]:
    """(N, segmentation checkpoint, none checkpoint) per label budget of the few-label arm."""
    by = {}
    for c in run.report.data.checkpoints:
        n = c.settings.get("few_label_scenes")
        if n and c.proxy in (SGT, CONTROL):
            by.setdefault(int(n), {})[c.proxy] = c.name
    return [(n, d[SGT], d[CONTROL]) for n, d in sorted(by.items()) if len(d) == 2]


def _fixed(value: float | None, view: View) -> np.ndarray:
    """A number the scenes do not resample (a probe, attention, a knockout), as [B]."""
    return np.full(len(view.u_weights), np.nan if value is None else value)


def _halves(n_layers: int) -> tuple[list[int], list[int]]:
    return list(range(n_layers // 2)), list(range(n_layers // 2, n_layers))


def separability(run: Run, view: View) -> np.ndarray:
    """Segmentation's object-class probe (balanced accuracy) at the middle layer minus
    `none`'s."""
    d = run.report.data
    seg, none = run.name(SGT), run.name(CONTROL)
    if d.probes is None or not (seg and none):
        return _fixed(None, view)
    mid = d.model.n_layers // 2
    acc = {n: d.probes.targets[n]["semantic_class"].accuracy[mid] for n in (seg, none)}
    return _fixed(None if None in acc.values() else acc[seg] - acc[none], view)


def _text_image(run: Run, name: str) -> np.ndarray | None:
    a = run.report.data.attention
    alloc = a.stats[name].allocation if a is not None and name in a.stats else None
    return None if alloc is None else np.array(alloc.text_image, dtype=float)


def allocation_late(run: Run, view: View) -> np.ndarray:
    """% change of text->image mass (segmentation vs `none`), late half of the layers minus
    early half."""
    seg, none = (_text_image(run, n) if n else None for n in (run.name(SGT), run.name(CONTROL)))
    if seg is None or none is None:
        return _fixed(None, view)
    pct = 100 * (seg / none - 1)
    early, late = _halves(len(pct))
    return _fixed(float(pct[late].mean() - pct[early].mean()), view)


def _object_share(run: Run, name: str) -> np.ndarray | None:
    a = run.report.data.attention
    alloc = a.stats[name].allocation if a is not None and name in a.stats else None
    words = alloc.generated_to_prompt if alloc is not None else None
    return None if words is None else np.array(words.share["object"], dtype=float)


def object_words(run: Run, view: View) -> np.ndarray:
    """Change (segmentation - `none`) of the object words' share of generated-image attention
    to the prompt, mean over the late half of the layers."""
    seg, none = (_object_share(run, n) if n else None for n in (run.name(SGT), run.name(CONTROL)))
    if seg is None or none is None:
        return _fixed(None, view)
    _, late = _halves(len(seg))
    return _fixed(float((seg - none)[late].mean()), view)


def knockout_late(run: Run, view: View) -> np.ndarray:
    """Change (segmentation - `none`) of the knockout's relative change of p(answer), mean over
    the windows centred in the late half (negative: the tuned model leans more on the image
    where its allocation changed)."""
    k = run.report.data.knockout
    seg, none = run.name(SGT), run.name(CONTROL)
    if k is None or not (seg and none):
        return _fixed(None, view)
    a, b = (np.array(k.curves[n].relative_change, dtype=float) for n in (seg, none))
    _, late = _halves(len(a))
    return _fixed(float((a - b)[late].mean()), view)


def reading_drawing(run: Run, view: View) -> np.ndarray:
    """Cross-path CKA (reading against drawing the same patches), segmentation - `none`, mean
    of the middle and the last layer."""
    a = run.report.data.alignment
    seg, none = run.name(SGT), run.name(CONTROL)
    if a is None or not (seg and none):
        return _fixed(None, view)
    cka = {n: a.checkpoints[n].cka for n in (seg, none)}
    if any(c is None for c in cka.values()):
        return _fixed(None, view)
    layers = (len(cka[seg].value) // 2, len(cka[seg].value) - 1)
    diffs = [cka[seg].value[i] - cka[none].value[i] for i in layers]
    return _fixed(None if None in diffs else float(np.mean(diffs)), view)


@dataclass(frozen=True)
class Spec:
    """How one scorecard row is computed."""

    id: str
    claim: str
    statistic: str
    direction: int
    arm: str  # the runs it reads: main | scaling | few-label
    compute: Callable[[Run, View], np.ndarray]
    sensitivity: bool = False  # also a row for the other recipe's main arm
    # computed from per-item verdicts, so a one-seed arm can resample its scenes (a probe,
    # attention or knockout number cannot)
    resamplable: bool = False
    floor_family: str | None = None  # a generation family whose floor the control must clear


SPECS = (
    Spec("1", "Semantic proxies help understanding most: segmentation > depth > edge > "
         "pixel-level (reconstruction, inpainting)",
         "slope of understanding Δ vs none on the proxy's level (pixel 0, edge 1, depth 2, "
         "segmentation 3)", 1, "main", hierarchy, sensitivity=True, resamplable=True),
    Spec("2", "Gains are in perception, not reasoning",
         "segmentation's Δ vs none, mean over perception families minus its Δ on the "
         "reasoning family (comparison)", 1, "main", perception_not_reasoning,
         resamplable=True),
    Spec("3", "Every proxy improves generation's spatial fidelity",
         "Δ vs none on position prompts, mean over the five proxies", 1, "main",
         spatial_fidelity, sensitivity=True, resamplable=True, floor_family="position"),
    Spec("3b", "... position prompts most",
         "mean over proxies of (Δ on position prompts - mean Δ on the other prompt families)",
         1, "main", position_most, resamplable=True, floor_family="position"),
    Spec("4", "Gains grow with more segmentation data",
         "slope of segmentation's understanding Δ vs none on log2(distinct proxy scenes)",
         1, "scaling", scaling_slope, resamplable=True),
    Spec("5", "Visual features become more linearly separable",
         "object-class probe balanced accuracy at the middle layer, segmentation - none", 1,
         "main", separability),
    Spec("6", "Vision-language attention allocation changes by layer, most in late layers",
         "% change of text->image mass (segmentation vs none), late half of layers minus early "
         "half", 1, "main", allocation_late),
    Spec("7", "Attention to the prompt's words shifts by word type (toward object words)",
         "object words' share of generated-image attention to the prompt, segmentation - none, "
         "late half of layers", 1, "main", object_words),
    Spec("8", "The tuned model depends more on the image where allocation changed",
         "knockout's relative change of p(answer), segmentation - none, windows centred in the "
         "late half (< 0: more dependence)", -1, "main", knockout_late),
    Spec("9", "Segmentation on unlabelled scenes helps learn a new perception family from few "
         "labels", "accuracy on the few-label family (category), segmentation - none, mean over "
         "64 / 256 / 1,024 labelled scenes", 1, "few-label", few_label_transfer,
         resamplable=True),
    Spec("premise", "SGT aligns reading and drawing (the paper's diagnosis: the two paths are "
         "misaligned)", "cross-path CKA, segmentation - none, mean of the middle and last "
         "layers", 1, "main", reading_drawing),
)  # fmt: skip


# ---- intervals ----


def stratified(per_world: dict[str, list[float]]) -> tuple[float | None, float | None,
                                                           float | None, int]:  # fmt: skip
    """(mean of the per-world means, lo, hi, n seeds) with the t-interval of INTERVAL_METHOD;
    lo and hi None when a world has fewer than two finite values."""
    clean = {w: [v for v in vs if v is not None and math.isfinite(v)] for w, vs in
             per_world.items()}  # fmt: skip
    clean = {w: vs for w, vs in clean.items() if vs}
    n = sum(len(vs) for vs in clean.values())
    if not clean:
        return None, None, None, 0
    means = {w: float(np.mean(vs)) for w, vs in clean.items()}
    estimate = float(np.mean(list(means.values())))
    if any(len(vs) < 2 for vs in clean.values()):
        return estimate, None, None, n
    k = len(clean)
    parts = [np.var(vs, ddof=1) / len(vs) / k**2 for vs in clean.values()]  # var of each term
    se = math.sqrt(sum(parts))
    if se == 0:
        return estimate, estimate, estimate, n
    df = sum(parts) ** 2 / sum(p**2 / (len(vs) - 1) for p, vs in
                               zip(parts, clean.values(), strict=True))  # fmt: skip
    half = float(scipy_stats.t.ppf(0.975, df)) * se
    return estimate, estimate - half, estimate + half, n


def bootstrapped(runs: list[Run], compute, seed: int = 0) -> tuple[float | None, float | None,
                                                                   float | None]:  # fmt: skip
    """(estimate, lo, hi) of the mean over worlds of the mean over their runs, by resampling
    each run's held-out scenes (N_BOOT draws)."""
    point, reps = {}, {}
    for i, run in enumerate(runs):
        point.setdefault(run.world, []).append(float(compute(run, View(run.report))[0]))
        reps.setdefault(run.world, []).append(compute(run, resampled(run.report, N_BOOT, seed + i)))
    estimate = float(np.mean([np.mean(v) for v in point.values()]))
    per_world = np.array([np.mean(v, axis=0) for v in reps.values()])  # [W, B]
    draws = per_world.mean(0)
    draws = draws[np.isfinite(draws)]
    if not math.isfinite(estimate) or not len(draws):
        return None, None, None
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return estimate, float(lo), float(hi)


# ---- the study ----


def row(spec: Spec, runs: list[Run], recipe: str, sensitivity: bool) -> Claim:
    mine = [r for r in runs if r.arm == spec.arm]
    worlds = sorted({r.world for r in mine})
    base = {"id": spec.id + ("w" if sensitivity else ""), "claim": spec.claim,
            "statistic": spec.statistic, "direction": spec.direction, "recipe": recipe,
            "worlds": worlds}  # fmt: skip
    per_world: dict[str, list[float]] = {}
    for r in mine:
        per_world.setdefault(r.world, []).append(float(spec.compute(r, View(r.report))[0]))
    estimate, lo, hi, n = stratified(per_world)
    caveats, method = [], "t over seeds"
    if mine and any(len(v) < 2 for v in per_world.values()) and spec.resamplable:
        estimate, lo, hi = bootstrapped(mine, spec.compute)
        caveats.append("one seed per world: the interval covers scene sampling, not tuning "
                       "variance")  # fmt: skip
        method = "scene bootstrap"
    if not mine:
        caveats.append(f"no {spec.arm} runs")
    if spec.floor_family:
        caveats += _floor_caveat(spec.floor_family, mine)
    return Claim(**base, estimate=estimate, lo=lo, hi=hi, n=n, interval=method,
                 verdict=verdict(lo, hi, spec.direction), caveat="; ".join(caveats))  # fmt: skip


def _floor_caveat(family: str, runs: list[Run]) -> list[str]:
    """Where the control's own score on `family` sits near its floor, the row measures little:
    say so, run by run."""
    near = []
    for r in runs:
        scores = r.report.data.benchmarks.scores[r.name(CONTROL)].generation
        floor = scores.floor.families.get(family) if scores.floor else None
        acc = scores.families.get(family)
        if acc is not None and floor is not None and acc - floor < 0.05:
            near.append(f"{r.world} seed {r.seed}: {acc:.3f} vs {floor:.3f}")
    if not near:
        return []
    return [f"none's {family} generation within 0.05 of its floor ({', '.join(near)})"]


def seed_deltas(runs: list[Run]) -> list[SeedDelta]:
    out = []
    for r in runs:
        if r.arm != "main" or not r.name(CONTROL):
            continue
        view, none = View(r.report), r.name(CONTROL)
        for proxy in LEVELS:
            name = r.name(proxy)
            if not name:
                continue
            for bench, get, fams in (
                ("understanding", view.understanding, list(dict.fromkeys(view.u_family))),
                ("generation", view.generation, list(dict.fromkeys(view.g_family))),
            ):
                for fam in ("overall", *fams):
                    delta = float(get(name, fam)[0] - get(none, fam)[0])
                    out.append(SeedDelta(world=r.world, seed=r.seed, recipe=r.recipe,
                                         proxy=proxy, benchmark=bench, family=fam,
                                         delta=delta if math.isfinite(delta) else None))  # fmt: skip
    return out


def curves(runs: list[Run]) -> tuple[list[CurvePoint], list[CurvePoint]]:
    scaling, few = [], []
    for r in runs:
        view = View(r.report)
        if r.arm == "scaling":
            scaling += [CurvePoint(world=r.world, seed=r.seed, x=x, arm=SGT, value=float(v[0]))
                        for x, v in _scaling_points(r, view)]  # fmt: skip
        if r.arm == "few-label":
            family = FEW_LABEL_FAMILIES[0]
            for n, seg, none in _few_label_pairs(r):
                for arm, name in ((SGT, seg), (CONTROL, none)):
                    v = float(view.understanding(name, family)[0])
                    few.append(CurvePoint(world=r.world, seed=r.seed, x=n, arm=arm, value=v))
    return scaling, few


def layer_curves(runs: list[Run]) -> list[LayerCurve]:
    acc: dict[tuple[str, str, str], list[np.ndarray]] = {}
    for r in runs:
        none = r.name(CONTROL) if r.arm == "main" else None
        if none is None or _text_image(r, none) is None:
            continue
        for proxy in LEVELS:
            name = r.name(proxy)
            if not name or _text_image(r, name) is None:
                continue
            acc.setdefault((r.world, proxy, "text_image_change_pct"), []).append(
                100 * (_text_image(r, name) / _text_image(r, none) - 1)
            )
            if _object_share(r, name) is not None and _object_share(r, none) is not None:
                acc.setdefault((r.world, proxy, "object_share_change"), []).append(
                    _object_share(r, name) - _object_share(r, none)
                )
    return [LayerCurve(world=w, proxy=p, what=what, values=np.mean(v, 0).tolist(), n=len(v))
            for (w, p, what), v in acc.items()]  # fmt: skip


def leak_rows(runs: list[Run]) -> list[SeedDelta]:
    """Per main-arm seed and proxy: its map rate, and its generation Δ vs `none` on the prompts
    where neither drew a map."""
    out = []
    for r in runs:
        b = r.report.data.benchmarks
        none = r.name(CONTROL)
        if r.arm != "main" or b is None or b.leak is None or none is None:
            continue
        fams = np.array([it.family for it in b.generations.items])
        for proxy in LEVELS:
            name = r.name(proxy)
            if not name:
                continue
            keep = ~(np.array(b.leak[name].maps) | np.array(b.leak[none].maps))
            a, c = (np.array(b.generations.verdicts[n], dtype=float) for n in (name, none))
            per_family = [a[keep & (fams == f)].mean() - c[keep & (fams == f)].mean()
                          for f in dict.fromkeys(fams) if (keep & (fams == f)).any()]  # fmt: skip
            common_args = {"world": r.world, "seed": r.seed, "recipe": r.recipe, "proxy": proxy}
            out.append(SeedDelta(**common_args, benchmark="leak", family="map_rate",
                                 delta=b.leak[name].map_rate))  # fmt: skip
            out.append(SeedDelta(**common_args, benchmark="leak", family="overall_without_maps",
                                 delta=float(np.mean(per_family)) if per_family else None))  # fmt: skip
    return out


def build(reports: list[Report], root: Path | None = None, recipe: str | None = None) -> Study:
    """The study over `reports` (paths shown relative to `root`); its main recipe is `recipe`,
    else the recipe most of its main-arm runs used."""
    runs = [r for r in map(classify, reports) if r is not None]
    if not runs:
        raise ReportError("no report holds a tuned checkpoint: nothing to test claims on")
    main = [r for r in runs if r.arm == "main"]
    if recipe is None:
        recipes = [r.recipe for r in main] or [DEFAULT_RECIPE]
        recipe = max(set(recipes), key=recipes.count)
    primary = [r for r in runs if r.recipe == recipe]
    other = [r for r in runs if r.recipe != recipe and r.arm == "main"]
    claims = [row(spec, primary, recipe, False) for spec in SPECS]
    for spec in SPECS:
        if spec.sensitivity and other:
            claims.append(row(spec, other, other[0].recipe, True))
    scaling, few = curves(primary)
    return Study(
        study_version=STUDY_VERSION,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        recipe=recipe, rule=RULE, interval_method=INTERVAL_METHOD,
        reports=[_relative(r.report.path, root) for r in runs], claims=claims,
        deltas=seed_deltas(runs), scaling=scaling, few_label=few, layers=layer_curves(runs),
        leak=leak_rows(runs),
    )  # fmt: skip


def _relative(path: Path, root: Path | None) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve())) if root else str(path)
    except ValueError:
        return str(path)


def scorecard_figure(study: Study) -> go.Figure:
    """Each claim's estimate and interval, coloured by verdict."""
    colors = {"holds": "#2ca02c", "contradicted": "#d62728", "not shown": "#7f7f7f",
              "not measured": "#c7c7c7"}  # fmt: skip
    rows = [c for c in study.claims if c.estimate is not None]
    fig = make_subplots(rows=len(rows) or 1, cols=1, shared_xaxes=False,
                        subplot_titles=[f"{c.id}: {c.verdict}" for c in rows])  # fmt: skip
    for i, c in enumerate(rows, start=1):
        lo, hi = (c.lo, c.hi) if c.lo is not None else (c.estimate, c.estimate)
        fig.add_trace(go.Scatter(x=[c.estimate], y=[c.id], mode="markers",
                                 marker={"color": colors[c.verdict], "size": 10},
                                 error_x={"type": "data", "symmetric": False,
                                          "array": [hi - c.estimate],
                                          "arrayminus": [c.estimate - lo]},
                                 showlegend=False), row=i, col=1)  # fmt: skip
        fig.add_vline(x=0, line_dash="dot", row=i, col=1)
    fig.update_layout(height=120 * max(len(rows), 1), title_text="Claims: estimate and 95% CI")
    return fig


def make(reports: list[Report], out: Path) -> common.Result:
    study = build(reports, root=out.parent)
    write_study(out, study)
    print(claims_markdown(study), end="")
    headers = ["#", "claim", "statistic", "estimate [95% CI]", "n", "verdict"]
    shown = [dict(zip(headers, cells, strict=True)) for cells in scorecard_rows(study)]
    return common.Result("claims", f"Claims scorecard ({study.recipe} recipe)",
                         {"claims": scorecard_figure(study)},
                         [f"<p>{RULE}</p>", html_table(shown)])  # fmt: skip


def main(argv=None) -> int:
    return common.main(make, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
