"""The report dir written by `sgt-probe compare` and read by the dashboard and analyses/.

A report dir holds:

- `report.json` (REPORT_JSON): schema-versioned numbers and their definitions.
- `arrays.npz` (ARRAYS_NPZ): captured arrays, read with `np.load(..., allow_pickle=False)`.
- `report.html` (REPORT_HTML): the plotly figures, for a person.

`report.json` (SCHEMA_VERSION 1). `L` = number of layers, `H` = heads. Checkpoint names are short
unique labels ("base", "segmentation", ...), in `checkpoints` order; the first is the reference.

    {
      "schema_version": 1,
      "created": "2026-11-26T10:00:00Z",
      "definitions": {"<metric>": "<one-paragraph definition>", ...},
      "data": {"world": "shapes", "seed": 0, "image_size": 32, "path": null},
      "model": {"n_layers": L, "n_heads": H, "d_model": int, "grid": 8, "patch_size": 4},
      "checkpoints": [{"name": "base", "path": "runs/base.pt", "proxy": null, "seed": 0,
                       "step": 300}, ...],
      "benchmarks": {
        "<name>": {
          "understanding": {"overall": float, "families": {"count": float, ...}},
          "generation": {"overall": float, "families": {"single_object": float, ...}},
          "proxy_quality": {"segmentation_miou": float, "depth_accuracy": float,
                            "edge_f1": float, "reconstruction_psnr": float}
        }, ...
      },
      "deltas": [   # paired over the same items, against the first checkpoint
        {"a": "base", "b": "segmentation", "benchmark": "understanding"|"generation",
         "family": "overall"|"<family>", "delta": float, "lo": float, "hi": float}, ...
      ],
      "probes": {
        "<name>": {
          "<target>": {   # target in PROBE_TARGETS
            "accuracy": [L], "lo": [L], "hi": [L],      # bootstrap 95% CI, images resampled
            "control": [L], "selectivity": [L], "C": [L],
            "majority": float   # held-out accuracy of always answering the commonest label
          }, ...
        }, ...
      },
      "label_free": {"<name>": {"fisher": [L], "silhouette": [L]}},
      "cka": [{"a": "base", "b": "segmentation", "values": [L]}, ...],
      "attention": {
        "<name>": {
          "mass": {"<kind>": [[H floats] x L], ...},   # kind in MASS_KINDS
          "entropy": [[H floats] x L],
          "grounded_precision": [L], "grounded_lo": [L], "grounded_hi": [L],
          "grounded_chance": float, "grounded_ratio": [L]
        }, ...
      },
      "knockout": {
        "<name>": {"windows": [[first, last], ...], "center": [int, ...],
                   "relative_change": [float, ...], "lo": [...], "hi": [...]}
      },
      "explorer": {   # the attention explorer's samples (arrays under "explorer/...")
        "samples": [{"index": int, "family": str, "question": str, "tokens": [str, ...],
                     "answer": str, "target_instance": int,
                     "target_tokens": [int, ...]}, ...]   # tokens naming the target
      },
      "embeddings": {"layers": [int, ...], "names": [embedded checkpoint names],
                     "color_by": ["class", "color", "depth"],
                     "labels": {"class": [class names], "color": [color names]}},
      "generations": {
        "items": [{"prompt": str, "family": str}, ...],
        "verdicts": {"<name>": [bool, ...]}
      },
      "skipped": {"<what>": "<why>", ...},   # analyses the world cannot support (a folder
                                             # world: "generation", "color probe"); their
                                             # sections are empty or absent
      "timings": {"<stage>": seconds, ...}
    }

`arrays.npz` keys (KEY_* helpers build them; `S` explorer samples, `T` question tokens,
`P` = grid*grid image patches, `N` embedded patches, `G` generation items):

    explorer/images            uint8   [S, H_img, W_img, 3]
    explorer/instances         int16   [S, H_img, W_img]     instance ids (outlines)
    explorer/attn/<name>       float16 [S, L, H, T, P]       question-token -> image-patch
                                                             attention (T padded; use
                                                             len(tokens))
    embeddings/<name>/<layer>  float32 [N, 2]                UMAP of image-token states
    embeddings/meta/class      int16   [N]   semantic class of each embedded patch
    embeddings/meta/color      int16   [N]   color index (-1 = background)
    embeddings/meta/depth      int16   [N]   depth rank (0 = background)
    embeddings/meta/sample     int32   [N]   index into embeddings/images
    embeddings/meta/patch      int16   [N]   patch index (row-major in the grid)
    embeddings/images          uint8   [M, H_img, W_img, 3]
    generations/<name>         uint8   [G, H_img, W_img, 3]  decoded generated images
    generations/truth          uint8   [G, H_img, W_img, 3]  a ground-truth render per prompt
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
REPORT_JSON = "report.json"
ARRAYS_NPZ = "arrays.npz"
REPORT_HTML = "report.html"

PROBE_TARGETS = ("semantic_class", "color", "object_count")
MASS_KINDS = ("text->image", "image->image", "text->text", "generated->input", "sink")
EMBED_COLOR_BY = ("class", "color", "depth")
# the checkpoints the UMAP figure contrasts (analyses/umap_panels.py); a study embeds only these
UMAP_PAIR = ("base", "segmentation")


def key_attn(name: str) -> str:
    return f"explorer/attn/{name}"


def key_embedding(name: str, layer: int) -> str:
    return f"embeddings/{name}/{layer}"


def key_generations(name: str) -> str:
    return f"generations/{name}"


class ReportError(Exception):
    """A report dir that is missing or damaged; the message is one line naming the problem."""


@dataclass
class Report:
    path: Path
    data: dict
    arrays: dict[str, np.ndarray]

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.data["checkpoints"]]

    @property
    def embedded(self) -> list[str]:
        """The checkpoints with UMAP panels (reports before `names` was recorded: all)."""
        return (self.data.get("embeddings") or {}).get("names") or self.names


def is_current(report_dir: str | Path, ckpts: list[Path]) -> bool:
    """Whether report_dir holds a report written after every checkpoint it compares."""
    report = Path(report_dir) / REPORT_JSON
    return report.exists() and report.stat().st_mtime > max(p.stat().st_mtime for p in ckpts)


def load_report(path: str | Path) -> Report:
    """Read and check a report dir; raise ReportError with one line on any problem."""
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"{path}: not a report directory (missing)")
    jpath = path / REPORT_JSON
    if not jpath.is_file():
        raise ReportError(f"{jpath}: missing; run `sgt-probe compare ... --out {path}` first")
    try:
        data = json.loads(jpath.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{jpath}: damaged JSON ({e})") from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        got = data.get("schema_version") if isinstance(data, dict) else None
        raise ReportError(f"{jpath}: schema_version {got!r}, expected {SCHEMA_VERSION}")
    for key in ("checkpoints", "benchmarks", "probes", "attention", "model"):
        if key not in data:
            raise ReportError(f"{jpath}: missing the {key!r} section")
    apath = path / ARRAYS_NPZ
    arrays: dict[str, np.ndarray] = {}
    if apath.is_file():
        try:
            with np.load(apath, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as e:  # zipfile/ValueError/OSError: all mean a damaged file
            raise ReportError(f"{apath}: damaged array file ({type(e).__name__}: {e})") from None
    return Report(path=path, data=data, arrays=arrays)
