"""The benchmarks suite: understanding, generation and proxy quality of every checkpoint on the
same held-out items, and each one's paired change against the reference.

On a world the generation judge cannot check (a folder of the user's own images) nothing is
drawn: generation has no scores, deltas or images, and the report says why under `skipped`.
"""

from __future__ import annotations

import numpy as np

from sgt_probe.compare.inputs import Inputs
from sgt_probe.data.scene import PROMPT_FAMILIES, QUESTION_FAMILIES, SCORED_FAMILIES
from sgt_probe.evals.benchmarks import (
    PROXY_METRICS,
    evaluate_generation,
    evaluate_proxy,
    evaluate_understanding,
)
from sgt_probe.probes.stats import bootstrap_ci, paired_bootstrap_delta
from sgt_probe.report.format import GENERATIONS_TRUTH, key_generations
from sgt_probe.report.schema import (
    AnswerItem,
    Answers,
    Benchmarks,
    CheckpointScores,
    Delta,
    Floor,
    GenerationItem,
    Generations,
    Leak,
    LeakDetectorInfo,
    Scores,
)

NAME = "benchmarks"


def paired_deltas(names: list[str], per_item: dict, bench: str, families, n_boot: int,
                  seed: int, overall_of=None) -> list[Delta]:  # fmt: skip
    """Every checkpoint after the first against the first, overall and per family, paired over
    the same items (scenes resampled together). Overall is over the families of `overall_of`
    (default: all), as the benchmark's overall is."""
    ref = per_item[names[0]]
    overall = set(overall_of or families)
    out = []
    for b in names[1:]:
        other = per_item[b]
        for fam in ("overall", *families):
            sel = [i for i, it in enumerate(ref)
                   if it["family"] == fam or (fam == "overall" and it["family"] in overall)]  # fmt: skip
            if not sel:
                continue
            a = np.array([float(ref[i]["correct"]) for i in sel])
            bb = np.array([float(other[i]["correct"]) for i in sel])
            groups = np.array([ref[i]["scene"] for i in sel])
            if fam == "overall":  # overall = mean of family means: weight items accordingly
                fams = np.array([ref[i]["family"] for i in sel])
                w = np.array([1.0 / np.sum(fams == f) for f in fams]) * len(sel) / len(set(fams))
                a, bb = a * w, bb * w
            d, lo, hi = paired_bootstrap_delta(a, bb, groups, n_boot=n_boot, seed=seed)
            out.append(Delta(a=names[0], b=b, benchmark=bench, family=fam, delta=d, lo=lo, hi=hi))
    return out


def _present(families, items: list[dict]) -> list[str]:
    """The families the items have, in the benchmark's own order (as tables and bars show)."""
    return [f for f in families if any(it["family"] == f for it in items)]


def _scores(result: dict) -> Scores:
    """A benchmark's result (`sgt_probe.evals.benchmarks`) as report scores, with its floor
    where it has one (a generation the judge cannot check has none)."""
    floor = result.get("floor")
    return Scores(overall=result["overall"], families=result["families"],
                  floor=Floor(**floor) if floor else None)  # fmt: skip


def run(inputs: Inputs, arrays: dict[str, np.ndarray]) -> Benchmarks:
    data, cfg, names = inputs.benchmark_data, inputs.cfg, inputs.names
    scores, understood, generated, leaks = {}, {}, {}, {}
    skipped = None  # why generation cannot be judged on this world (the same for every one)
    for name, ld in inputs.loaded.items():
        u = evaluate_understanding(ld, data)
        g, images = evaluate_generation(ld, data, draw=cfg.generation)
        quality = {PROXY_METRICS.get(p, f"{p}_psnr"): evaluate_proxy(ld, inputs.proxy_data, p)
                   for p in inputs.proxies}  # fmt: skip
        understood[name], generated[name], leaks[name] = u["items"], g["items"], g.get("leak")
        scores[name] = CheckpointScores(understanding=_scores(u), generation=_scores(g),
                                        proxy_quality=quality)  # fmt: skip
        if images is None:
            skipped = g["skipped"]
        else:
            arrays[key_generations(name)] = images
    if skipped:
        inputs.skip("generation", skipped)
    else:
        arrays[GENERATIONS_TRUTH.key] = np.stack([s.image for s in data.scenes])
    u_fams = _present(QUESTION_FAMILIES, understood[names[0]])
    g_fams = _present(PROMPT_FAMILIES, generated[names[0]])
    deltas = paired_deltas(names, understood, "understanding", u_fams, cfg.n_boot, cfg.seed,
                           overall_of=SCORED_FAMILIES)  # fmt: skip
    deltas += paired_deltas(names, generated, "generation", g_fams, cfg.n_boot, cfg.seed)
    generations = Generations(
        items=[
            GenerationItem(scene=it["scene"], prompt=it["prompt"], family=it["family"])
            for it in generated[names[0]]
        ],  # fmt: skip
        verdicts={n: [bool(it["correct"]) for it in generated[n]] for n in names},
    )
    leak, detector = None, None
    if not skipped:
        leak = {n: _leak(generated[n], cfg) for n in names}
        detector = LeakDetectorInfo(**leaks[names[0]]["detector"])
    answers = Answers(
        items=[AnswerItem(scene=it["scene"], family=it["family"]) for it in understood[names[0]]],
        correct={n: [bool(it["correct"]) for it in understood[n]] for n in names},
    )
    return Benchmarks(scores=scores, deltas=deltas, generations=generations, answers=answers,
                      leak=leak, leak_detector=detector)  # fmt: skip


def _leak(items: list[dict], cfg) -> Leak:
    maps = [bool(it["map"]) for it in items]
    rate, lo, hi = bootstrap_ci(np.array(maps, dtype=float), n_boot=cfg.n_boot, seed=cfg.seed)
    palette = float(np.mean([it["palette"] for it in items]))
    return Leak(map_rate=rate, lo=lo, hi=hi, palette_share=palette, maps=maps)
