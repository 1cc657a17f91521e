"""Evaluation of one checkpoint on held-out scenes (the world's "eval" split).

- understanding (CV-Bench analogue): accuracy per question family, argmax over the item's
  choices; overall = mean of the family accuracies, the few-label family left out (no base is
  taught it: `data.scene.FEW_LABEL_FAMILIES`). Beside it, its floor: the accuracy of a
  blind answerer that picks, among each item's choices, the answer most common for that family
  on training scenes (`answer_priors`). A model at its floor reads nothing from the image.
- generation (GenEval analogue): the prompt's image is sampled (`GENERATION_TEMPERATURE`), decoded
  to pixels and judged by `Judge` (independent of the model; trained on ground-truth
  renders); overall = mean of the family accuracies. Beside it, its floor: the same images
  judged against another scene's prompt of the same family, the rate at which an image that
  ignores its prompt still passes.
- proxy quality on decoded target maps: segmentation mIoU, depth pixel accuracy, edge F1,
  reconstruction PSNR.
Every result keeps a per-item list so comparisons between checkpoints can be paired.

Each function takes a model source (`sgt_probe.sources.ModelSource`: one of our checkpoints or
a Hugging Face model directory), which tokenizes the scenes, scores choices, draws and decodes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import asdict
from functools import cache
from pathlib import Path

import numpy as np

from sgt_probe import data as data_package
from sgt_probe.data.proxies import read_depth, read_edges, read_segmentation, render_proxy
from sgt_probe.data.scene import PROMPT_FAMILIES, QUESTION_FAMILIES, SCORED_FAMILIES
from sgt_probe.data.world import GeneratedWorld
from sgt_probe.evals import judge as judge_module
from sgt_probe.evals import leak as leak_module
from sgt_probe.evals.judge import Judge, prompt_holds, training_blobs, unjudgeable
from sgt_probe.evals.leak import (
    FIT_SCENES,
    VALIDATE_SCENES,
    LeakDetector,
    Validation,
    labelled_set,
    palette_share,
)
from sgt_probe.evals.metrics import binary_f1, mean_iou, pixel_accuracy
from sgt_probe.tokenizer.vq import psnr
from sgt_probe.tuning.taskdata import TaskData

PROXY_METRICS = {
    "segmentation": "segmentation_miou",
    "depth": "depth_accuracy",
    "edge": "edge_f1",
    "reconstruction": "reconstruction_psnr",
}

_JUDGES: dict = {}


def cache_dir() -> Path:
    """Where sgt-probe keeps what it can rebuild: $SGT_PROBE_CACHE, else the user's cache dir."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sgt-probe"
    return Path(os.environ.get("SGT_PROBE_CACHE") or default)


def judge_for(world, tokenizer=None) -> Judge:
    """One judge per (world spec, codebook): it is trained once, on ground-truth renders and,
    given the tokenizer, on their VQ-decoded versions too (what generated images look like at
    best), so VQ blur is not mistaken for a wrong shape. The fit takes seconds (2,000 renders,
    their VQ round trip, an SVM) and is the same for every compare of that world and codebook:
    it is kept in this process and on disk (`disk_cached`, keyed by the judge's and the data
    code too)."""
    code = tokenizer.fingerprint().encode() if tokenizer is not None else b""
    key = b"".join([_world_key(world.spec), code, Path(judge_module.__file__).read_bytes()])
    digest = hashlib.sha1(key).hexdigest()
    if digest not in _JUDGES:
        # the blobs are the slow part; kept as plain numbers, the SVM refits in under a second
        def blobs():
            features, labels = training_blobs(world, tokenizer=tokenizer)
            return {"features": features.tolist(), "dtype": str(features.dtype), "labels": labels}

        kept = disk_cached("judge-blobs", key, blobs)
        features = np.asarray(kept["features"], dtype=kept["dtype"])
        _JUDGES[digest] = Judge(world, tokenizer=tokenizer, blobs=(features, kept["labels"]))
    return _JUDGES[digest]


_LEAK: dict = {}


def leak_detector_for(world, tokenizer=None) -> tuple[LeakDetector, Validation]:
    """One proxy-leak detector per (world spec, codebook), fitted on training scenes and their
    maps and validated on held-out ones (`evals.leak`), kept as the judge is: in this process,
    and its data on disk (keyed by the world, the codebook and the detector's code)."""
    code = tokenizer.fingerprint().encode() if tokenizer is not None else b""
    key = b"".join([_world_key(world.spec), code, Path(leak_module.__file__).read_bytes()])
    digest = hashlib.sha1(key).hexdigest()
    if digest not in _LEAK:
        sets = disk_cached("leak-data", key, lambda: {
            "train": labelled_set(world, "train", FIT_SCENES, tokenizer),
            "held_out": labelled_set(world, "eval", VALIDATE_SCENES, tokenizer),
        })  # fmt: skip
        detector = LeakDetector(len(world.class_names), sets["train"])
        _LEAK[digest] = detector, detector.validate(sets["held_out"])
    return _LEAK[digest]


def disk_cached(kind: str, key: bytes, build):
    """build(), a JSON value, or what an earlier process built for the same key: kept in
    `cache_dir()` as kind-<digest>.json. JSON, not a pickle: reading the cache runs no code. One
    that cannot be read is built anew, and one that cannot be written only costs the next
    process a rebuild."""
    digest = hashlib.sha1(key).hexdigest()
    path = cache_dir() / f"{kind}-{digest}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        value = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(value))
        tmp.replace(path)
    except OSError:
        pass
    return value


def _world_key(spec) -> bytes:
    """What a generated world's scenes are a function of: its spec and the data code (a
    changed layout rule must not reuse what the old one rendered)."""
    code = sorted(Path(data_package.__file__).parent.glob("*.py"))
    source = b"".join(f.read_bytes() for f in code)
    return json.dumps(spec.to_dict(), sort_keys=True).encode() + source


def eval_data(source, n_scenes: int, proxies=()) -> TaskData:
    """The first `n_scenes` of the world's "eval" split (all of it if it holds fewer), as the
    source tokenizes them."""
    world = source.world()
    return source.task_data(world, world.split("eval")[:n_scenes], proxies)


# Generated images are sampled at this temperature (greedy images are mostly background; proxy
# maps are decoded greedily), under classifier-free guidance for models trained with prompt
# dropout; both chosen with benchmarks/generation_bench.py (docs/bases.md, "Sampling").
GENERATION_TEMPERATURE = 1.0
GENERATION_GUIDANCE = 4.0

PRIOR_SCENES = 2000  # training scenes whose answers give the blind answerer its priors


def family_scores(items: list[dict], families, key: str = "correct", overall_of=None) -> dict:
    """Accuracy per family present among `items`, and overall: the mean over the families of
    `overall_of` (default: all of `families`) that are present."""
    fams = {f: [it[key] for it in items if it["family"] == f] for f in families}
    per = {f: float(np.mean(v)) for f, v in fams.items() if v}
    scored = [v for f, v in per.items() if f in (overall_of or families)]
    return {"overall": float(np.mean(scored)) if scored else float("nan"), "families": per}


@cache
def _answer_counts(spec) -> dict[str, Counter]:
    """Answer counts per family on the first PRIOR_SCENES training scenes. A generated world's
    take seconds to render and are a function of its spec and the data code, so they are kept
    on disk under those; a folder's files can change under the same spec, so they are read."""
    world = data_package.make_world(spec)

    def count() -> dict[str, Counter]:
        counts: dict[str, Counter] = {}
        for scene in world.scenes(0, min(PRIOR_SCENES, len(world))):
            for qa in scene.questions:
                counts.setdefault(qa.family, Counter())[qa.answer] += 1
        return counts

    if not isinstance(world, GeneratedWorld):
        return count()
    kept = disk_cached("priors", _world_key(spec) + str(PRIOR_SCENES).encode(), count)
    return {family: Counter(answers) for family, answers in kept.items()}


def prior_answer(counts: dict[str, Counter], family: str, choices) -> str:
    """The blind answerer's pick: the choice most often right in training for this family
    (ties and unseen answers go to the earlier choice)."""
    seen = counts.get(family, Counter())
    return max(choices, key=lambda c: (seen[c], -choices.index(c)))


def understanding_items(data: TaskData) -> list[tuple[int, int]]:
    return [(i, q) for i in range(len(data)) for q in range(len(data.scenes[i].questions))]


def evaluate_understanding(source, data: TaskData, forward=None) -> dict:
    pairs = understanding_items(data)
    items = [data.understanding(i, q) for i, q in pairs]
    qas = [data.scenes[i].questions[q] for i, q in pairs]
    p_ans, p_choices = source.answer_probs(items, [qa.choices for qa in qas], forward=forward)
    priors = _answer_counts(data.world.spec)
    out = []
    for (i, q), qa, pa, pc in zip(pairs, qas, p_ans, p_choices, strict=True):
        pred = qa.choices[int(np.argmax(pc))]
        blind = prior_answer(priors, qa.family, qa.choices)
        out.append({
            "scene": data.indices[i], "q": q, "family": qa.family, "answer": qa.answer,
            "pred": pred, "correct": pred == qa.answer, "p_answer": float(pa),
            "prior_correct": blind == qa.answer,
        })  # fmt: skip
    # overall leaves out the few-label family, which no base is taught (data.scene)
    floor = family_scores(out, QUESTION_FAMILIES, "prior_correct", SCORED_FAMILIES)
    return {
        **family_scores(out, QUESTION_FAMILIES, overall_of=SCORED_FAMILIES),
        "floor": floor,
        "items": out,
    }


def generate_images(source, data: TaskData) -> np.ndarray:
    """uint8 [N, H, W, 3]: the image each eval scene's prompt makes the model draw, guided
    (GENERATION_GUIDANCE) when the model learned to draw without a prompt too."""
    items = [data.generation(i, with_target=False) for i in range(len(data))]
    guide = {}
    if source.guidable and GENERATION_GUIDANCE != 1:
        unconditional = [data.generation(i, False, unconditional=True) for i in range(len(data))]
        guide = {"unconditional": unconditional, "guidance": GENERATION_GUIDANCE}
    codes = source.generate_codes(items, temperature=GENERATION_TEMPERATURE, **guide)
    return source.decode(codes)


def evaluate_generation(source, data: TaskData, draw: bool = True
                        ) -> tuple[dict, np.ndarray | None]:  # fmt: skip
    """Judged generations and the images drawn; on a world the judge cannot check, or when not
    asked to `draw`, no items, no images and the reason under "skipped" (drawing images nobody
    can judge is wasted).

    Each item also says whether the proxy-leak detector calls its image a map ("map") and what
    share of its pixels lie near the segmentation palette ("palette"); "leak" sums them up
    beside the detector's held-out validation."""
    reason = unjudgeable(data.world) if draw else "not asked for (compare without generation)"
    if reason:
        return {"overall": None, "families": {}, "items": [], "skipped": reason}, None
    images = generate_images(source, data)
    judge = judge_for(data.world, source.judge_tokenizer)
    detector, validation = leak_detector_for(data.world, source.judge_tokenizer)
    maps = detector.is_map(images)
    palette = palette_share(images, len(data.world.class_names))
    prompts = [s.prompt for s in data.scenes]
    out = []
    for i, found in enumerate(judge.detect_all(images)):
        other = _same_family_other(prompts, i)
        out.append({
            "scene": data.indices[i], "family": prompts[i].family, "prompt": prompts[i].text,
            "correct": prompt_holds(found, prompts[i].spec),
            "control_correct": other is not None and prompt_holds(found, other.spec),
            "map": bool(maps[i]), "palette": float(palette[i]),
        })  # fmt: skip
    floor = family_scores(out, PROMPT_FAMILIES, key="control_correct")
    leak = {"map_rate": float(maps.mean()), "palette_share": float(palette.mean()),
            "detector": asdict(validation)}  # fmt: skip
    return {**family_scores(out, PROMPT_FAMILIES), "floor": floor, "leak": leak,
            "items": out}, images  # fmt: skip


def _same_family_other(prompts, i: int):
    """The next prompt (cyclically) of prompt i's family with a different text, or None."""
    n = len(prompts)
    return next((prompts[(i + k) % n] for k in range(1, n)
                 if prompts[(i + k) % n].family == prompts[i].family
                 and prompts[(i + k) % n].text != prompts[i].text), None)  # fmt: skip


def evaluate_proxy(source, data: TaskData, proxy: str) -> float:
    """The proxy's quality metric (PROXY_METRICS) on maps generated from held-out scenes."""
    items = [data.proxy(proxy, i, with_target=False) for i in range(len(data))]
    pred = source.decode(source.generate_codes(items))
    n_classes = len(data.world.class_names)
    truth = [render_proxy(s, proxy, n_classes)[1] for s in data.scenes]
    if proxy == "segmentation":
        t = np.stack([s.segmentation for s in data.scenes])
        p = np.stack([read_segmentation(x, n_classes) for x in pred])
        return mean_iou(t, p, n_classes)
    if proxy == "depth":
        t = np.stack([read_depth(x) for x in truth])
        return pixel_accuracy(t, np.stack([read_depth(x) for x in pred]))
    if proxy == "edge":
        return binary_f1(
            np.stack([s.edges for s in data.scenes]), np.stack([read_edges(x) for x in pred])
        )
    return psnr(np.stack(truth), pred)  # reconstruction and inpainting: the full image


def evaluate(
    source, n_scenes: int = 64, proxies=("segmentation",), generation: bool = True
) -> dict:
    """All benchmarks on the first `n_scenes` held-out scenes (fewer if the split is smaller)."""
    proxies = tuple(p for p in proxies if p != "none")
    data = eval_data(source, n_scenes, proxies)
    result = {"n_scenes": len(data), "understanding": evaluate_understanding(source, data)}
    if generation:
        result["generation"], _ = evaluate_generation(source, data)
    result["proxy_quality"] = {
        PROXY_METRICS.get(p, f"{p}_psnr"): evaluate_proxy(source, data, p) for p in proxies
    }
    return result
