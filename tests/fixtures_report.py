"""A synthetic report dir: every section of `sgt_probe.report.schema` with plausible numbers.

The numbers are random but shaped like the real thing (tuned checkpoints separate classes better
and attend more to the named object in later layers), so the dashboard has something to show
before `sgt-probe compare` exists. Nothing here trains or reads a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sgt_probe.data.scene import PROMPT_FAMILIES, QUESTION_FAMILIES
from sgt_probe.report.format import (
    EMBED_IMAGES,
    EXPLORER_IMAGES,
    EXPLORER_INSTANCES,
    GENERATIONS_TRUTH,
    REPORT_HTML,
    key_attn,
    key_embed_meta,
    key_embedding,
    key_generations,
    write_report,
)
from sgt_probe.report.schema import (
    EMBED_COLOR_BY,
    LENS_TARGETS,
    MASS_KINDS,
    PROBE_TARGETS,
    SCHEMA_VERSION,
    SUITES,
    Alignment,
    Attention,
    Benchmarks,
    Cka,
    ExplorerSample,
    Knockout,
    Probes,
    ReportData,
)

NAMES = ("base", "segmentation", "depth", "edge", "reconstruct")
COLORS = np.array(
    [[220, 50, 47], [38, 139, 210], [133, 153, 0], [181, 137, 0], [211, 54, 130], [42, 161, 152]],
    dtype=np.uint8,
)
SHAPES = ("square", "circle", "triangle", "cross")
QUESTIONS = (
    ("count", "how many red circles are there ?", "2"),
    ("relation", "is the blue square left of the circle ?", "yes"),
    ("depth", "which is in front the triangle or the cross ?", "triangle"),
    ("distance", "which is closer to the green square ?", "circle"),
)


def _draw_scene(rng: np.random.Generator, size: int, n_objects: int):
    """A textured background with `n_objects` shapes; returns image, instances, class, color,
    depth maps (later objects occlude earlier ones, so depth rank = drawing order)."""
    image = (rng.integers(90, 140, size=(size, size, 1)) + np.zeros((1, 1, 3))).astype(np.uint8)
    instances = np.zeros((size, size), np.int16)
    classes = np.zeros((size, size), np.int16)
    colors = np.full((size, size), -1, np.int16)
    depth = np.zeros((size, size), np.int16)
    yy, xx = np.mgrid[:size, :size]
    for k in range(1, n_objects + 1):
        shape, color = int(rng.integers(len(SHAPES))), int(rng.integers(len(COLORS)))
        r = int(rng.integers(size // 8, size // 4))
        cy, cx = rng.integers(r, size - r, size=2)
        dy, dx = np.abs(yy - cy), np.abs(xx - cx)
        mask = {
            0: (dy <= r) & (dx <= r),
            1: dy**2 + dx**2 <= r**2,
            2: (yy >= cy - r) & (yy <= cy + r) & (dx <= (yy - cy + r) / 2),
            3: ((dy <= r) & (dx <= r // 3)) | ((dx <= r) & (dy <= r // 3)),
        }[shape]
        image[mask] = COLORS[color]
        instances[mask], classes[mask], colors[mask], depth[mask] = k, shape + 1, color, k
    return image, instances, classes, colors, depth


def _rising(rng, n_layers: int, start: float, end: float, noise: float = 0.02) -> np.ndarray:
    t = np.linspace(0, 1, n_layers)
    return start + (end - start) * np.sqrt(t) + rng.normal(0, noise, n_layers)


def _ci(rng, y: np.ndarray, width: float) -> tuple[list, list]:
    w = width * (0.7 + 0.6 * rng.random(len(y)))
    return (y - w).round(4).tolist(), (y + w).round(4).tolist()


def _patch_means(m: np.ndarray, grid: int) -> np.ndarray:
    """[H, W] -> [grid*grid], the per-patch mean (row-major patches)."""
    p = m.shape[0] // grid
    return m.reshape(grid, p, grid, p).mean(axis=(1, 3)).reshape(-1)


def _attention(rng, target: np.ndarray, n_layers: int, n_heads: int, n_tokens: int, gain: float):
    """[L, H, T, P] softmax rows that lean toward the target's patches more in later layers."""
    logits = rng.normal(0, 1, size=(n_layers, n_heads, n_tokens, target.size))
    focus = gain * np.linspace(0, 3, n_layers)[:, None, None, None] * target[None, None, None, :]
    head_gain = rng.random(n_heads)[None, :, None, None]
    z = logits + focus * head_gain
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


@dataclass
class _Shape:
    """What every section needs: the checkpoints, the model's size and a shared random stream."""

    rng: np.random.Generator
    names: list[str]
    gains: dict[str, float]  # how strongly each checkpoint shows the "tuned" effects
    n_layers: int
    n_heads: int
    grid: int
    patch_size: int

    @property
    def size(self) -> int:
        return self.grid * self.patch_size


def _benchmarks(sh: _Shape) -> tuple[dict, list]:
    rng, benchmarks, deltas = sh.rng, {}, []
    for n in sh.names:
        g = sh.gains[n]
        und = {
            f: float(np.clip(0.45 + 0.25 * g + rng.normal(0, 0.05), 0, 1))
            for f in QUESTION_FAMILIES
        }
        gen = {
            f: float(np.clip(0.35 + 0.3 * g + rng.normal(0, 0.05), 0, 1)) for f in PROMPT_FAMILIES
        }
        benchmarks[n] = {
            "understanding": {"overall": float(np.mean(list(und.values()))), "families": und},
            "generation": {"overall": float(np.mean(list(gen.values()))), "families": gen},
            "proxy_quality": {
                "segmentation_miou": 0.3 + 0.4 * rng.random(),
                "depth_accuracy": 0.4 + 0.4 * rng.random(),
                "edge_f1": 0.3 + 0.5 * rng.random(),
                "reconstruction_psnr": 18 + 8 * rng.random(),
            },
        }
    ref = benchmarks[sh.names[0]]
    for b in sh.names[1:]:
        for bench in ("understanding", "generation"):
            x, y = ref[bench], benchmarks[b][bench]
            pairs = [("overall", x["overall"], y["overall"])]
            pairs += [(f, x["families"][f], y["families"][f]) for f in x["families"]]
            for family, before, after in pairs:
                d, w = after - before, 0.03 + 0.04 * rng.random()
                deltas.append(
                    dict(
                        a=sh.names[0],
                        b=b,
                        benchmark=bench,
                        family=family,
                        delta=d,
                        lo=d - w,
                        hi=d + w,
                    )
                )
    return benchmarks, deltas


def _answers(rng: np.random.Generator, sh: _Shape, scores: dict, n_scenes: int) -> dict:
    """Per-item right/wrong for every question family on n_scenes scenes, each drawn with
    its checkpoint's family score as the chance of being right."""
    items = [{"scene": 1000 + s, "family": f} for s in range(n_scenes) for f in QUESTION_FAMILIES]
    correct = {
        n: [bool(rng.random() < scores[n]["understanding"]["families"][it["family"]])
            for it in items]
        for n in sh.names
    }  # fmt: skip
    return {"items": items, "correct": correct}


def _layer_metrics(sh: _Shape) -> dict:
    """The per-layer sections: probes, label_free, cka, attention, knockout."""
    rng, L = sh.rng, sh.n_layers
    out = {"probes": {}, "label_free": {}, "attention": {}, "knockout": {}}
    for n in sh.names:
        g = sh.gains[n]
        out["probes"][n] = {}
        for t in PROBE_TARGETS:
            acc = np.clip(_rising(rng, L, 0.4, 0.55 + 0.3 * g), 0, 1)
            control = np.clip(_rising(rng, L, 0.3, 0.35), 0, 1)
            lo, hi = _ci(rng, acc, 0.03)
            out["probes"][n][t] = {
                "accuracy": acc.round(4).tolist(),
                "lo": lo,
                "hi": hi,
                "control": control.round(4).tolist(),
                "selectivity": (acc - control).round(4).tolist(),
                "C": [float(10.0 ** rng.integers(-2, 3)) for _ in range(L)],
                "majority": None,  # as reports written before the floor was recorded
            }
        out["label_free"][n] = {
            "fisher": _rising(rng, L, 0.5, 1.0 + 2 * g, 0.1).round(4).tolist(),
            "silhouette": _rising(rng, L, -0.05, 0.1 + 0.3 * g).round(4).tolist(),
        }
        share = np.linspace(0.2, 0.3 + 0.3 * g, L)[:, None] + rng.normal(0, 0.03, (L, sh.n_heads))
        scales = (1.0, 1.6, 1.2, 0.8, 0.5)
        precision = np.clip(_rising(rng, L, 0.12, 0.15 + 0.35 * g), 0, 1)
        lo, hi = _ci(rng, precision, 0.04)
        out["attention"][n] = {
            "mass": {
                k: np.clip(share * f, 0, 1).round(4).tolist()
                for k, f in zip(MASS_KINDS, scales, strict=True)
            },
            "entropy": (3 + rng.random((L, sh.n_heads))).round(4).tolist(),
            "grounded": {
                "precision": precision.round(4).tolist(),
                "lo": lo,
                "hi": hi,
                "chance": 0.12,
                "ratio": (precision / 0.12).round(4).tolist(),
                "n": 24,
            },
        }
        change = -0.05 - 0.4 * g * np.exp(-(((np.arange(L) - L / 2) / (L / 3)) ** 2))
        lo, hi = _ci(rng, change, 0.05)
        out["knockout"][n] = {
            "windows": [[max(0, c - 1), min(L - 1, c + 1)] for c in range(L)],
            "center": list(range(L)),
            "relative_change": change.round(4).tolist(),
            "lo": lo,
            "hi": hi,
        }
    out["cka"] = [
        {"a": sh.names[0], "b": b, "values": np.clip(_rising(rng, L, 0.98, 0.6), 0, 1).tolist()}
        for b in sh.names[1:]
    ]
    return out


def _explorer(sh: _Shape, n_samples: int, arrays: dict) -> dict:
    n_tokens = max(len(q.split()) for _, q, _ in QUESTIONS)
    shape = (n_samples, sh.n_layers, sh.n_heads, n_tokens, sh.grid**2)
    attn = {n: np.zeros(shape, np.float16) for n in sh.names}  # T padded past each question
    samples, images, instances = [], [], []
    for s in range(n_samples):
        image, inst, *_ = _draw_scene(sh.rng, sh.size, 1 + s % 3)
        family, question, answer = QUESTIONS[s % len(QUESTIONS)]
        tokens = question.split()
        target = _patch_means((inst == 1).astype(float), sh.grid)
        for n in sh.names:
            a = _attention(sh.rng, target, sh.n_layers, sh.n_heads, len(tokens), sh.gains[n])
            attn[n][s, :, :, : len(tokens)] = a
        samples.append(
            ExplorerSample(
                index=100 + s,
                family=family,
                question=question,
                tokens=tokens,
                answer=answer,
                target_instance=1,
                target_tokens=[],
            )
        )
        images.append(image)
        instances.append(inst)
    arrays[EXPLORER_IMAGES.key] = np.stack(images)
    arrays[EXPLORER_INSTANCES.key] = np.stack(instances)
    arrays.update({key_attn(n): a for n, a in attn.items()})
    return samples


def _embeddings(sh: _Shape, n_images: int, arrays: dict) -> dict:
    scenes = [_draw_scene(sh.rng, sh.size, 1 + m % 4) for m in range(n_images)]
    centre = (slice(sh.patch_size // 2, None, sh.patch_size),) * 2  # each patch's centre pixel
    meta = {k: [] for k in ("class", "color", "depth", "sample", "patch")}
    for m, (_, _, classes, colors, depth) in enumerate(scenes):
        for key, pixel_map in (("class", classes), ("color", colors), ("depth", depth)):
            meta[key].append(pixel_map[centre].reshape(-1))
        meta["sample"].append(np.full(sh.grid**2, m))
        meta["patch"].append(np.arange(sh.grid**2))
    for k, v in meta.items():
        arrays[key_embed_meta(k)] = np.concatenate(v).astype(
            np.int32 if k == "sample" else np.int16
        )
    arrays[EMBED_IMAGES.key] = np.stack([scene[0] for scene in scenes])
    classes = arrays[key_embed_meta("class")]
    layers = sorted({0, sh.n_layers // 2, sh.n_layers - 1})
    centres = sh.rng.normal(0, 4, size=(len(SHAPES) + 1, 2))
    for n in sh.names:
        for i, layer in enumerate(layers):
            spread = 1.0 + 0.8 * sh.gains[n] * i  # classes drift apart with depth, more if tuned
            points = centres[classes] * spread + sh.rng.normal(0, 1.5, (len(classes), 2))
            arrays[key_embedding(n, layer)] = points.astype(np.float32)
    return {"layers": layers, "names": sh.names, "color_by": list(EMBED_COLOR_BY), "labels": {}}


def _generations(sh: _Shape, n_items: int, arrays: dict) -> dict:
    families = [PROMPT_FAMILIES[i % len(PROMPT_FAMILIES)] for i in range(n_items)]
    items = [
        {"scene": 1000 + i, "prompt": f"a {f.replace('_', ' ')} scene number {i}", "family": f}
        for i, f in enumerate(families)
    ]
    truth = np.stack([_draw_scene(sh.rng, sh.size, 1 + i % 3)[0] for i in range(n_items)])
    arrays[GENERATIONS_TRUTH.key] = truth
    verdicts = {}
    for n in sh.names:
        noise = sh.rng.integers(-25, 25, size=truth.shape)
        arrays[key_generations(n)] = np.clip(truth + noise, 0, 255).astype(np.uint8)
        verdicts[n] = (sh.rng.random(n_items) < 0.35 + 0.3 * sh.gains[n]).tolist()
    return {"items": items, "verdicts": verdicts}


def _alignment(rng: np.random.Generator, sh: _Shape) -> Alignment:
    """Reading against drawing: tuned checkpoints align the paths more in later layers."""
    L, out = sh.n_layers, {}

    def band(start: float, end: float, width: float = 0.04) -> dict:
        value = np.clip(_rising(rng, L, start, end), 0, 1)
        lo, hi = _ci(rng, value, width)
        return {"value": value.round(4).tolist(), "lo": lo, "hi": hi}

    for n in sh.names:
        g = sh.gains[n]
        words = {"semantic_class": list(SHAPES), "color": ["red", "blue", "green", "yellow"]}
        out[n] = {
            "cka": band(0.15, 0.2 + 0.4 * g),
            "transfer": {
                "read": band(0.4, 0.55 + 0.3 * g),
                "read_to_draw": band(0.25, 0.3 + 0.3 * g),
                "draw": band(0.4, 0.6 + 0.2 * g),
                "draw_to_read": band(0.25, 0.3 + 0.25 * g),
                "floor": 0.25,
                "n_classes": 4,
            },
            "lens": {
                t: {
                    "words": words[t],
                    "read": band(0.25, 0.3 + 0.3 * g),
                    "draw": band(0.25, 0.28 + 0.2 * g),
                    "floor": 0.25,
                    "n_classes": 4,
                }
                for t in LENS_TARGETS
            },  # fmt: skip
        }
    return Alignment(checkpoints=out, n_scenes=24)


def write_synthetic_report(
    path: str | Path,
    n_ckpts: int = 2,
    n_layers: int = 4,
    n_heads: int = 4,
    grid: int = 8,
    patch_size: int = 4,
    n_samples: int = 4,
    n_embed_images: int = 6,
    n_generations: int = 18,
    seed: int = 0,
) -> Path:
    """Write a report dir at `path` that `load_report` accepts; return the path."""
    names = list(NAMES[:n_ckpts])
    gains = {n: 0.4 + 0.6 * (i > 0) + 0.1 * i for i, n in enumerate(names)}
    sh = _Shape(np.random.default_rng(seed), names, gains, n_layers, n_heads, grid, patch_size)
    arrays: dict[str, np.ndarray] = {}
    # drawn in this order from one random stream: the numbers stay those tests were written on
    scores, deltas = _benchmarks(sh)
    layers = _layer_metrics(sh)
    explorer = _explorer(sh, n_samples, arrays)
    embeddings = _embeddings(sh, n_embed_images, arrays)
    generations = _generations(sh, n_generations, arrays)
    report = ReportData(
        schema_version=SCHEMA_VERSION,
        created="2026-11-26T10:00:00Z",
        suites=list(SUITES),
        definitions={"synthetic": "random numbers for dashboard tests; not a measurement"},
        data={"world": "shapes", "seed": seed, "image_size": sh.size, "path": None},
        model=dict(
            n_layers=n_layers,
            n_heads=n_heads,
            d_model=64,
            grid=grid,
            patch_size=patch_size,
            preset="tiny",
        ),  # fmt: skip
        compare_config={},
        checkpoints=[
            dict(
                name=n,
                path=f"runs/{n}.pt",
                proxy=None if i == 0 else n,
                stage="base" if i == 0 else "tune",
                seed=0,
                step=300,
            )  # fmt: skip
            for i, n in enumerate(names)
        ],
        timings={"synthetic": 0.0},
        benchmarks=Benchmarks(
            scores=scores,
            deltas=deltas,
            generations=generations,
            # its own random stream, as alignment's
            answers=_answers(np.random.default_rng(seed + 2), sh, scores, n_generations),
        ),
        probes=Probes(targets=layers["probes"], label_free=layers["label_free"]),
        attention=Attention(stats=layers["attention"], explorer=explorer),
        knockout=Knockout(curves=layers["knockout"]),
        cka=Cka(pairs=layers["cka"]),
        # its own random stream: the other sections' numbers stay those tests were written on
        alignment=_alignment(np.random.default_rng(seed + 1), sh),
        embeddings=embeddings,
    )
    path = Path(path)
    write_report(path, report, arrays)
    (path / REPORT_HTML).write_text("<html><body>synthetic report</body></html>\n")
    return path
