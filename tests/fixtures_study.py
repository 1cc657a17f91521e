"""A synthetic study: reports of a base and its tunings whose per-item verdicts are drawn with
planted effects, for the claims scorecard's tests and the Study page's. Nothing here trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sgt_probe.data.scene import PROMPT_FAMILIES, QUESTION_FAMILIES, SCORED_FAMILIES
from sgt_probe.report.format import load_report, write_report
from sgt_probe.report.schema import SCHEMA_VERSION, ReportData

PROXIES = ("none", "reconstruction", "inpainting", "edge", "depth", "segmentation")
N_SCENES = 60
L = 4


def synthetic_report(path, world, seed, rng, effects, recipe="paper", settings=None, names=None):
    """A report of a base and tunings whose per-item verdicts are drawn with planted
    probabilities: effects[name] -> (understanding p by family, generation p by family).
    Allocation, probes and knockout carry per-name constants from effects too."""
    names = names or list(effects)
    settings = settings or {}
    u_items = [(1000 + s, f) for s in range(N_SCENES) for f in QUESTION_FAMILIES]
    g_items = [(1000 + s, PROMPT_FAMILIES[s % len(PROMPT_FAMILIES)]) for s in range(N_SCENES)]
    answers, verdicts, scores = {}, {}, {}
    for n in names:
        pu, pg = effects[n]["u"], effects[n]["g"]
        answers[n] = [bool(rng.random() < pu[f]) for _, f in u_items]
        verdicts[n] = [bool(rng.random() < pg[f]) for _, f in g_items]

        def fam_means(correct, items):
            fams = {}
            for c, (_, f) in zip(correct, items, strict=True):
                fams.setdefault(f, []).append(c)
            return {f: float(np.mean(v)) for f, v in fams.items()}

        uf, gf = fam_means(answers[n], u_items), fam_means(verdicts[n], g_items)
        scores[n] = {
            "understanding": {"overall": float(np.mean([uf[f] for f in SCORED_FAMILIES])),
                              "families": uf},
            "generation": {"overall": float(np.mean(list(gf.values()))), "families": gf,
                           "floor": {"overall": 0.0, "families": {f: 0.0 for f in gf}}},
            "proxy_quality": {},
        }  # fmt: skip
    checkpoints = [
        {"name": n, "path": f"{path}/{n}.pt", "proxy": None if n == "base" else n.split("-")[0],
         "stage": "base" if n == "base" else "tune", "seed": None if n == "base" else seed,
         "step": 10, "recipe": None if n == "base" else recipe,
         "settings": settings.get(n, {})}
        for n in names
    ]  # fmt: skip
    alloc = {n: {"text_image": effects[n].get("text_image", [0.2] * L),
                 "generated_to_prompt": {
                     "share": {t: [effects[n].get("object", 0.3) if t == "object" else 0.175] * L
                               for t in ("object", "colour", "position", "count", "other")},
                     "lo": {t: [0.0] * L for t in ("object", "colour", "position", "count",
                                                   "other")},
                     "hi": {t: [1.0] * L for t in ("object", "colour", "position", "count",
                                                   "other")},
                     "chance": {t: 0.2 for t in ("object", "colour", "position", "count",
                                                 "other")}, "n": 5}}
             for n in names}  # fmt: skip
    data = ReportData(
        schema_version=SCHEMA_VERSION, created="2026-12-07T00:00:00Z",
        suites=["benchmarks", "probes", "attention", "knockout"],
        definitions={}, data={"world": world, "seed": 0, "image_size": 32, "path": None},
        model={"n_layers": L, "n_heads": 2, "d_model": 8, "grid": 8, "patch_size": 4,
               "preset": "tiny"},
        compare_config={}, checkpoints=checkpoints, timings={},
        benchmarks={"scores": scores, "deltas": [],
                    "generations": {"items": [{"scene": s, "prompt": "p", "family": f}
                                              for s, f in g_items], "verdicts": verdicts},
                    "answers": {"items": [{"scene": s, "family": f} for s, f in u_items],
                                "correct": answers}},
        probes={"targets": {n: {"semantic_class": {
                    "metric": "balanced_accuracy",
                    "accuracy": [effects[n].get("probe", 0.5)] * L, "lo": [0.0] * L,
                    "hi": [1.0] * L, "C": [1.0] * L, "majority": 0.3, "floor": 0.25}}
                    for n in names},
                "label_free": {n: {"fisher": [1.0] * L, "silhouette": [0.0] * L}
                               for n in names}},
        attention={"stats": {n: {"mass": {k: [[0.1] * 2] * L for k in
                                          ("text->image", "image->image", "text->text", "sink")},
                                 "entropy": [[1.0] * 2] * L, "allocation": alloc[n]}
                             for n in names}, "explorer": []},
        knockout={"curves": {n: {"windows": [[i, i] for i in range(L)], "center": list(range(L)),
                                 "relative_change": [effects[n].get("knockout", -0.1)] * L,
                                 "lo": [-1.0] * L, "hi": [1.0] * L} for n in names}},
    )  # fmt: skip
    write_report(path, data, {})
    return load_report(path)


def effects(seg_gain: float = 0.0, generation: float = 0.3) -> dict:
    """Every proxy at the control's rates but segmentation, which gains `seg_gain` on the
    perception families only."""
    base_u = {f: 0.6 for f in QUESTION_FAMILIES}
    out = {}
    for n in ("base", *PROXIES):
        u = dict(base_u)
        if n == "segmentation":
            u.update({f: 0.6 + seg_gain for f in QUESTION_FAMILIES if f != "comparison"})
        out[n] = {"u": u, "g": {f: generation for f in PROMPT_FAMILIES},
                  "text_image": [0.2, 0.2, 0.2 + seg_gain, 0.2 + seg_gain]
                  if n == "segmentation" else [0.2] * L}  # fmt: skip
    return out


def write_synthetic_study(root: Path, seg_gain: float = 0.3) -> list:
    """Main-arm reports of two worlds x three seeds under `root`, segmentation planted
    `seg_gain` above `none` on the perception families; returns the loaded reports."""
    rng = np.random.default_rng(0)
    return [
        synthetic_report(root / world / f"seed{seed}" / "report", world, seed, rng,
                         effects(seg_gain=seg_gain))
        for world in ("shapes", "digits") for seed in range(3)
    ]  # fmt: skip
