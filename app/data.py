"""The report dirs this dashboard serves, and small read-only queries over a loaded report.

Reports are loaded once per file version (cached on the files' modification times), so
callbacks only index arrays that are already in memory. A dir is looked up by the exact string
it was served under: the selector's value comes from the browser, and anything else is refused
rather than opened.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sgt_probe.report.format import (
    ARRAYS_NPZ,
    EXPLORER_INSTANCES,
    GENERATIONS_TRUTH,
    REPORT_JSON,
    Report,
    ReportError,
    key_attn,
    key_generations,
    load_report,
)
from sgt_probe.report.schema import ExplorerSample
from sgt_probe.report.study import STUDY_JSON, Study, StudyError, load_study

_DIRS: list[str] = []
_STUDIES: list[str] = []

ALL = "all"
STATUSES = {
    ALL: "all items",
    "fixed": "fixed by tuning (reference wrong, this one right)",
    "broken": "broken by tuning (reference right, this one wrong)",
}


def set_report_dirs(dirs: Sequence[str | Path], studies: Sequence[str | Path] = ()) -> None:
    _DIRS[:] = [str(d) for d in dirs]
    _STUDIES[:] = [str(d) for d in studies]


def report_dirs() -> list[str]:
    return list(_DIRS)


def study_dirs() -> list[str]:
    return list(_STUDIES)


@functools.lru_cache(maxsize=4)
def _load_study(path: str, stamp: int | None) -> Study:
    return load_study(path)


def study(key: str | None) -> Study:
    """The study served under `key`; StudyError (one line) if unknown, missing or damaged."""
    if key not in _STUDIES:
        raise StudyError(f"{key!r}: not one of the study dirs this dashboard serves; pass a "
                         "folder holding study.json to sgt-probe dash")  # fmt: skip
    try:
        stamp = os.stat(Path(key) / STUDY_JSON).st_mtime_ns
    except OSError:
        stamp = None
    return _load_study(key, stamp)


def _stamp(path: str) -> tuple:
    def mtime(name: str) -> int | None:
        try:
            return os.stat(Path(path) / name).st_mtime_ns
        except OSError:
            return None

    return mtime(REPORT_JSON), mtime(ARRAYS_NPZ)


@functools.lru_cache(maxsize=4)
def _load(path: str, stamp: tuple) -> Report:
    return load_report(path)


def get(key: str | None) -> Report:
    """The report served under `key`; ReportError (one line) if unknown, missing or damaged."""
    if key not in _DIRS:
        if not _DIRS and _STUDIES:
            raise ReportError("this dashboard serves a study, no report: see the Study page")
        raise ReportError(f"{key!r}: not one of the report dirs this dashboard serves")
    return _load(key, _stamp(key))


def need(report: Report, *keys: str) -> None:
    """Raise ReportError naming the first array the page needs that the report lacks."""
    for k in keys:
        if k not in report.arrays:
            raise ReportError(f"{report.path}: {ARRAYS_NPZ} has no {k!r} array")


# ---- attention explorer ----


def _samples(report: Report) -> list[ExplorerSample]:
    return report.need("attention").explorer


def attention_maps(
    report: Report, names: Sequence[str], sample: int, layer: int, head: int, token: int
) -> dict[str, np.ndarray]:
    """Name -> [grid, grid] text->image attention of one question token (token -1: the mean
    over the sample's real tokens) at one layer, of one head (head -1: the head mean)."""
    grid = report.data.model.grid
    n_tokens = len(_samples(report)[sample].tokens)
    out = {}
    for name in names:
        a = report.arrays[key_attn(name)][sample, layer, :, :n_tokens].astype(np.float32)
        a = a.mean(0) if head < 0 else a[head]  # [T, P]
        a = a.mean(0) if token < 0 else a[token]  # [P]
        out[name] = a.reshape(grid, grid)
    return out


def token_weights(
    report: Report, names: Sequence[str], sample: int, layer: int, head: int, patch: int
) -> dict[str, np.ndarray]:
    """Name -> [T] attention weight from each question token to one image patch."""
    n_tokens = len(_samples(report)[sample].tokens)
    out = {}
    for name in names:
        a = report.arrays[key_attn(name)][sample, layer, :, :n_tokens, patch].astype(np.float32)
        out[name] = a.mean(0) if head < 0 else a[head]
    return out


def target_mask(report: Report, sample: int) -> np.ndarray:
    """[H, W] bool: the pixels of the object the sample's question names."""
    target = _samples(report)[sample].target_instance
    return report.arrays[EXPLORER_INSTANCES.key][sample] == target


def patch_at(x: float, y: float, patch_size: int, grid: int) -> int | None:
    """The patch under pixel coordinates (x, y) from a click, or None outside the image."""
    r, c = int((y + 0.5) // patch_size), int((x + 0.5) // patch_size)
    return r * grid + c if 0 <= r < grid and 0 <= c < grid else None


# ---- generations ----


def generation_indices(report: Report, family: str, status: str, against: str) -> list[int]:
    """Items of `family` (or all) whose verdicts match `status` for `against` relative to the
    reference (first) checkpoint."""
    gens = report.need("benchmarks").generations
    ref = gens.verdicts[report.names[0]]
    other = gens.verdicts.get(against, ref)
    keep = []
    for i, item in enumerate(gens.items):
        if family != ALL and item.family != family:
            continue
        if status == "fixed" and not (other[i] and not ref[i]):
            continue
        if status == "broken" and not (ref[i] and not other[i]):
            continue
        keep.append(i)
    return keep


def generation_images(report: Report) -> dict[str, np.ndarray]:
    """ "truth" and each checkpoint -> [G, H, W, 3]."""
    keys = {"truth": GENERATIONS_TRUTH.key} | {n: key_generations(n) for n in report.names}
    need(report, *keys.values())
    return {label: report.arrays[k] for label, k in keys.items()}
