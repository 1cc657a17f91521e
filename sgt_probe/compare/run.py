"""Run every analysis for several checkpoints on the same items and write the report dir.

Layout of the report dir: `sgt_probe.report.format`. The first checkpoint is the reference
for paired deltas and CKA.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console

from sgt_probe.capture.activations import capture_residuals
from sgt_probe.capture.bridge import HookedRunner
from sgt_probe.capture.labels import patch_labels
from sgt_probe.checkpoint import CheckpointError
from sgt_probe.compare import suites
from sgt_probe.data.proxies import PROXIES
from sgt_probe.data.scene import PROMPT_FAMILIES, QUESTION_FAMILIES
from sgt_probe.evals.benchmarks import (
    PROXY_METRICS,
    eval_data,
    evaluate_generation,
    evaluate_proxy,
    evaluate_understanding,
)
from sgt_probe.evals.judge import unjudgeable
from sgt_probe.model.loading import Loaded, load_model
from sgt_probe.probes.stats import paired_bootstrap_delta
from sgt_probe.report import format as fmt
from sgt_probe.tuning.taskdata import TaskData

console = Console(stderr=True)


@dataclass(frozen=True)
class CompareConfig:
    n_scenes: int = 64  # held-out scenes for benchmarks, attention and knockout
    n_probe_scenes: int = 160  # held-out scenes whose image patches the probes see
    n_explorer: int = 8
    n_embed_scenes: int = 24
    embed: tuple[str, ...] = ()  # checkpoints that get UMAP panels (empty: all of them)
    knockout_window: int = 0  # 0: about a quarter of the layers
    n_boot: int = 1000
    seed: int = 0
    device: str = "cpu"


def check_comparable(loaded: list[Loaded]) -> None:
    ref = loaded[0]
    for other in loaded[1:]:
        if other.spec != ref.spec:
            raise CheckpointError(
                f"{other.path}: trained on world {other.spec.to_dict()}, but {ref.path} on "
                f"{ref.spec.to_dict()}; compare checkpoints of the same world"
            )
        if other.vocab != ref.vocab:
            raise CheckpointError(f"{other.path}: vocabulary differs from {ref.path}")
        if other.cfg.n_layers != ref.cfg.n_layers or other.cfg.grid != ref.cfg.grid:
            raise CheckpointError(
                f"{other.path}: layer count or image grid differs from {ref.path}"
            )


def checkpoint_names(loaded: list[Loaded]) -> list[str]:
    """Short unique labels: 'base' for a base checkpoint, else the proxy, else the file stem."""
    names = []
    for ld in loaded:
        name = "base" if ld.ckpt.get("stage") == "base" else (ld.proxy or ld.path.stem)
        name = name if name not in names else ld.path.stem
        while name in names:
            name += "'"
        names.append(name)
    return names


@contextmanager
def _timed(timings: dict, stage: str, quiet: bool = False):
    t0 = time.perf_counter()
    yield
    dt = time.perf_counter() - t0
    timings[stage] = timings.get(stage, 0.0) + dt
    if not quiet:
        console.print(f"  [dim]{stage}: {dt:.1f}s[/]")


def _deltas(names, per_item: dict, bench: str, families, n_boot, seed) -> list[dict]:
    ref = per_item[names[0]]
    out = []
    for b in names[1:]:
        other = per_item[b]
        for fam in ("overall", *families):
            sel = [i for i, it in enumerate(ref) if fam == "overall" or it["family"] == fam]
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
            out.append({"a": names[0], "b": b, "benchmark": bench, "family": fam,
                        "delta": d, "lo": lo, "hi": hi})  # fmt: skip
    return out


def run_compare(paths: list[str | Path], out: str | Path, cfg: CompareConfig = CompareConfig(),
                progress: bool = True) -> dict:  # fmt: skip
    if len(paths) < 2:
        raise ValueError("compare needs at least two checkpoints")
    out = Path(out)
    timings: dict[str, float] = {}

    def timed(stage: str):
        return _timed(timings, stage, quiet=not progress)

    with timed("load"):
        loaded = [load_model(p, cfg.device) for p in paths]
        check_comparable(loaded)
    names = checkpoint_names(loaded)
    ref = loaded[0]
    world = ref.world()
    proxies = sorted(
        {ld.proxy for ld in loaded if ld.proxy and ld.proxy != "none"} | {"segmentation"}
    )
    proxies = [p for p in PROXIES if p in proxies]
    with timed("data"):
        data = eval_data(ref, cfg.n_scenes, proxies)
        probe_scenes = world.split("probe")[: cfg.n_probe_scenes]
        probe_data = TaskData(world, ref.tokenizer, ref.vocab, ref.cfg, probe_scenes)
    cm = ref.cfg
    labels = patch_labels(probe_data.scenes, cm.patch_size, world.colors)  # [n, P] each
    n_img, n_patch = labels["class"].shape
    image_of = np.repeat(np.arange(n_img), n_patch)
    flat = {k: v.reshape(-1) for k, v in labels.items()}
    skipped = {}  # what this world cannot support is left out of the report, with the reason
    if reason := unjudgeable(world):
        skipped["generation"] = reason
    if not world.colors:  # a folder world's objects have no color words: nothing to probe
        skipped["color probe"] = f"the {world.name!r} world gives its objects no colors"
        del flat["color"]
    codes = probe_data.codes.reshape(-1)
    counts = np.array([len(s.objects) for s in probe_data.scenes])
    probe_items = [probe_data.understanding(i, 0) for i in range(n_img)]

    pairs = [(i, q) for i in range(len(data)) for q in range(len(data.scenes[i].questions))]
    qa_items = [data.understanding(i, q) for i, q in pairs]
    qas = [data.scenes[i].questions[q] for i, q in pairs]
    qa_scenes = [data.scenes[i] for i, _ in pairs]
    qa_objects = [qa.objects[0] if qa.objects else 0 for qa in qas]
    seg_items = [data.proxy("segmentation", i) for i in range(len(data))]
    explorer = [k for k, o in enumerate(qa_objects) if o][: cfg.n_explorer]
    if not explorer:  # a folder's questions need not name objects
        skipped["attention explorer"] = "no held-out question names an object (its 'objects')"
    window = cfg.knockout_window or max(1, cm.n_layers // 4)

    report: dict = {
        "schema_version": fmt.SCHEMA_VERSION,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "definitions": suites.DEFINITIONS,
        "data": ref.spec.to_dict(),
        "model": {"n_layers": cm.n_layers, "n_heads": cm.n_heads, "d_model": cm.d_model,
                  "grid": cm.grid, "patch_size": cm.patch_size, "preset": cm.preset},  # fmt: skip
        "compare_config": asdict(cfg),
        "checkpoints": [],
        "benchmarks": {}, "deltas": [], "probes": {}, "label_free": {}, "cka": [],
        "attention": {}, "knockout": {}, "skipped": skipped,
    }  # fmt: skip
    arrays: dict[str, np.ndarray] = {}
    per_item_u, per_item_g, residuals = {}, {}, {}
    for name, ld in zip(names, loaded, strict=True):
        if progress:
            console.print(f"[bold]{name}[/] ({ld.path})")
        report["checkpoints"].append({
            "name": name, "path": str(ld.path), "proxy": ld.proxy, "stage": ld.ckpt.get("stage"),
            "seed": ld.ckpt["train_config"].get("seed"), "step": ld.ckpt["step"],
        })  # fmt: skip
        with timed("eval"):
            u = evaluate_understanding(ld, data)
            g, images = evaluate_generation(ld, data)
            pq = {PROXY_METRICS.get(p, f"{p}_psnr"): evaluate_proxy(ld, data, p) for p in proxies}
        per_item_u[name], per_item_g[name] = u["items"], g["items"]
        report["benchmarks"][name] = {
            "understanding": {k: u[k] for k in ("overall", "families")},
            "generation": {k: g[k] for k in ("overall", "families")},
            "proxy_quality": pq,
        }
        if images is not None:
            arrays[fmt.key_generations(name)] = images
        runner = HookedRunner.for_loaded(ld)
        with timed("capture"):
            X, _ = capture_residuals(
                runner, probe_items, list(range(cm.n_layers)), progress=progress
            )
        residuals[name] = X
        with timed("probes"):
            report["probes"][name] = suites.probe_suite(
                X, flat, image_of, codes, counts, seed=cfg.seed, n_boot=cfg.n_boot
            )
            report["label_free"][name] = suites.label_free(X, flat["class"], seed=cfg.seed)
        with timed("attention"):
            report["attention"][name] = suites.attention_suite(
                runner, qa_items, qa_scenes, qa_objects, seg_items, n_boot=cfg.n_boot, seed=cfg.seed
            )
            if explorer:
                arrays[fmt.key_attn(name)] = suites.text_image_attention(
                    runner, [qa_items[k] for k in explorer]
                )
        with timed("knockout"):
            report["knockout"][name] = suites.knockout_suite(
                runner, qa_items, ld.vocab, [qa.choices for qa in qas], window,
                n_boot=cfg.n_boot, seed=cfg.seed,
            )  # fmt: skip
    with timed("cka"):
        for b in names[1:]:
            report["cka"].append({"a": names[0], "b": b,
                                  "values": suites.cka_by_layer(residuals[names[0]], residuals[b])})  # fmt: skip
    # families in the benchmark's own order, as the score tables and bars show them
    u_fams = [f for f in QUESTION_FAMILIES if any(it["family"] == f for it in per_item_u[names[0]])]
    g_fams = [f for f in PROMPT_FAMILIES if any(it["family"] == f for it in per_item_g[names[0]])]
    report["deltas"] = _deltas(names, per_item_u, "understanding", u_fams, cfg.n_boot, cfg.seed)
    report["deltas"] += _deltas(names, per_item_g, "generation", g_fams, cfg.n_boot, cfg.seed)
    report["explorer"] = {"samples": [
        {"index": int(data.indices[pairs[k][0]]), "family": qas[k].family, "question": qas[k].question,
         "tokens": qas[k].question.split(" ") + ["<task:answer>"], "answer": qas[k].answer,
         "target_instance": int(qa_objects[k]),
         "target_tokens": _naming_tokens(qas[k].question, qa_scenes[k], qa_objects[k])}
        for k in explorer]}  # fmt: skip
    if explorer:
        arrays["explorer/images"] = np.stack([qa_scenes[k].image for k in explorer])
        arrays["explorer/instances"] = np.stack([qa_scenes[k].instances for k in explorer]).astype(
            np.int16
        )
    report["generations"] = {
        "items": [{"prompt": it["prompt"], "family": it["family"]} for it in per_item_g[names[0]]],
        "verdicts": {n: [bool(it["correct"]) for it in per_item_g[n]] for n in names},
    }
    arrays["generations/truth"] = np.stack([s.image for s in data.scenes])
    with timed("umap"):
        report["embeddings"] = _embeddings(
            residuals, names, labels, probe_data, cfg, arrays, world.class_names, world.colors
        )
    report["timings"] = timings
    write_report(out, report, arrays)
    return report


def _naming_tokens(question: str, scene, instance: int) -> list[int]:
    """Indices of the question words that name the target object (its color and shape)."""
    obj = next((o for o in scene.objects if o.instance_id == instance), None)
    words = question.split(" ")
    if obj is None:
        return []
    return [i for i, w in enumerate(words) if w in (obj.color, obj.shape)]


def _embeddings(residuals, names, labels, probe_data, cfg, arrays, class_names, colors) -> dict:
    """UMAP of image-token residuals at the middle and last layer (computed once).

    Each fit costs seconds, so a study comparing many checkpoints embeds only those its
    figures show (`cfg.embed`).
    """
    import umap

    m = min(cfg.n_embed_scenes, len(probe_data))
    n_layers = residuals[names[0]].shape[0]
    layers = sorted({n_layers // 2, n_layers - 1})
    n_patch = labels["class"].shape[1]
    rows = np.arange(m * n_patch)
    embedded = [n for n in names if not cfg.embed or n in cfg.embed]
    for name in embedded:
        for layer in layers:
            # 200 epochs instead of 500: the layout of ~1.5k points is settled by then.
            reducer = umap.UMAP(n_neighbors=15, min_dist=0.1, n_epochs=200,
                                random_state=cfg.seed, n_jobs=1)  # fmt: skip
            xy = reducer.fit_transform(residuals[name][layer, rows])
            arrays[fmt.key_embedding(name, layer)] = xy.astype(np.float32)
    arrays["embeddings/meta/class"] = labels["class"][:m].reshape(-1).astype(np.int16)
    arrays["embeddings/meta/color"] = (labels["color"][:m].reshape(-1) - 1).astype(np.int16)
    arrays["embeddings/meta/depth"] = labels["depth"][:m].reshape(-1).astype(np.int16)
    arrays["embeddings/meta/sample"] = np.repeat(np.arange(m), n_patch).astype(np.int32)
    arrays["embeddings/meta/patch"] = np.tile(np.arange(n_patch), m).astype(np.int16)
    arrays["embeddings/images"] = np.stack([s.image for s in probe_data.scenes[:m]])
    return {"layers": layers, "names": embedded, "color_by": list(fmt.EMBED_COLOR_BY),
            "labels": {"class": list(class_names), "color": list(colors)}}  # fmt: skip


def _finite(x):
    """NaN/inf become null: report.json stays strict JSON that browsers can parse."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if isinstance(x, float | np.floating):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def write_report(out: Path, report: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write report.json and arrays.npz; each file appears whole or not at all."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (fmt.ARRAYS_NPZ + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out / fmt.ARRAYS_NPZ)
    tmp = out / (fmt.REPORT_JSON + ".tmp")
    tmp.write_text(json.dumps(_finite(report), indent=1, allow_nan=False))
    tmp.replace(out / fmt.REPORT_JSON)
