"""The report dir `sgt-probe compare` writes and the dashboard, analyses/ and the CLI read.

A report dir holds:

- `report.json` (REPORT_JSON): the numbers and their definitions, the contract in
  `sgt_probe.report.schema` (documented in docs/report-schema.md, generated from it).
- `arrays.npz` (ARRAYS_NPZ): captured arrays, the keys in ARRAYS, read with
  `np.load(..., allow_pickle=False)`.
- `report.html` (REPORT_HTML): the figures on one page, for a person.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from sgt_probe.report.schema import OLDEST_READ, SCHEMA_VERSION, ReportData, Section

REPORT_JSON = "report.json"
ARRAYS_NPZ = "arrays.npz"
REPORT_HTML = "report.html"

# the checkpoints the UMAP figure contrasts (analyses/umap_panels.py); a study embeds only these
UMAP_PAIR = ("base", "segmentation")


@dataclass(frozen=True)
class ArraySpec:
    """One kind of array in arrays.npz. `key` is a format string over `name` (a checkpoint)
    and `layer`. S explorer samples, T question tokens (padded to the longest: use the sample's
    len(tokens)), P image patches, N embedded patches, M embedded images, G generation items.
    The arrays of a part the report lists under `skipped` are absent."""

    key: str
    dtype: str
    shape: str
    meaning: str
    suite: str

    def format(self, **parts) -> str:
        return self.key.format(**parts)


EXPLORER_IMAGES = ArraySpec("explorer/images", "uint8", "[S, H_img, W_img, 3]",
                            "the explorer samples' images", "attention")  # fmt: skip
EXPLORER_INSTANCES = ArraySpec("explorer/instances", "int16", "[S, H_img, W_img]",
                               "instance id per pixel (the named object's outline)", "attention")  # fmt: skip
EXPLORER_ATTN = ArraySpec("explorer/attn/{name}", "float16", "[S, L, H, T, P]",
                          "question-token -> image-patch attention", "attention")  # fmt: skip
EMBEDDING = ArraySpec("embeddings/{name}/{layer}", "float32", "[N, 2]",
                      "UMAP of image-token residuals", "embeddings")  # fmt: skip
EMBED_META = ArraySpec("embeddings/meta/{label}", "int16 (sample: int32)", "[N]",
                       "per embedded patch: class (0 = background), color (-1 = background), "
                       "depth rank (0 = background), sample (index into embeddings/images), "
                       "patch (row-major in the grid)", "embeddings")  # fmt: skip
EMBED_IMAGES = ArraySpec("embeddings/images", "uint8", "[M, H_img, W_img, 3]",
                         "the embedded scenes", "embeddings")  # fmt: skip
GENERATIONS = ArraySpec("generations/{name}", "uint8", "[G, H_img, W_img, 3]",
                        "decoded generated images", "benchmarks")  # fmt: skip
GENERATIONS_TRUTH = ArraySpec("generations/truth", "uint8", "[G, H_img, W_img, 3]",
                              "a ground-truth render per prompt", "benchmarks")  # fmt: skip
ARRAYS = (EXPLORER_IMAGES, EXPLORER_INSTANCES, EXPLORER_ATTN, EMBEDDING, EMBED_META,
          EMBED_IMAGES, GENERATIONS, GENERATIONS_TRUTH)  # fmt: skip


def key_attn(name: str) -> str:
    return EXPLORER_ATTN.format(name=name)


def key_embedding(name: str, layer: int) -> str:
    return EMBEDDING.format(name=name, layer=layer)


def key_embed_meta(label: str) -> str:
    return EMBED_META.format(label=label)


def key_generations(name: str) -> str:
    return GENERATIONS.format(name=name)


class ReportError(Exception):
    """A report dir that is missing or damaged; the message is one line naming the problem."""


@dataclass
class Report:
    path: Path
    data: ReportData
    arrays: dict[str, np.ndarray]

    @property
    def names(self) -> list[str]:
        return self.data.names

    @property
    def embedded(self) -> list[str]:
        """The checkpoints with UMAP panels."""
        return self.data.embeddings.names if self.data.embeddings else []

    def need(self, suite: str) -> Section:
        """The section `suite` wrote; ReportError (one line) when that suite did not run."""
        section = getattr(self.data, suite)
        if section is None:
            ran = ", ".join(self.data.suites) or "none"
            raise ReportError(f"{self.path}: the {suite!r} suite did not run for this report "
                              f"(it ran: {ran})")  # fmt: skip
        return section


def is_current(report_dir: str | Path, ckpts: list[Path]) -> bool:
    """Whether report_dir holds a report in this sgt-probe's format, written after every
    checkpoint it compares (a report in an older format is rebuilt, not refused)."""
    report = Path(report_dir) / REPORT_JSON
    if not report.exists() or report.stat().st_mtime <= max(p.stat().st_mtime for p in ckpts):
        return False
    try:
        return json.loads(report.read_text()).get("schema_version") == SCHEMA_VERSION
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False


def _problems(e: ValidationError) -> str:
    """The first few validation errors on one line, each naming its field."""
    said = []
    for err in e.errors():
        *parent, last = err["loc"] or ("report",)
        where = ".".join(map(str, parent))
        if err["type"] == "missing":
            said.append(f"{where or 'report'}: missing field {last!r}")
        elif err["type"] == "extra_forbidden":
            said.append(f"{where or 'report'}: unknown field {last!r}")
        else:
            field = ".".join(map(str, err["loc"])) or "report"
            said.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
    more = f" (and {len(said) - 3} more)" if len(said) > 3 else ""
    return "; ".join(said[:3]) + more


def parse_report(text: str, where: str | Path) -> ReportData:
    """report.json's text, checked against the schema; ReportError (one line) naming the
    version or the field that is wrong."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportError(f"{where}: damaged JSON ({e})") from None
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if not isinstance(version, int):
        raise ReportError(f"{where}: no schema_version; not a report.json")
    if version > SCHEMA_VERSION:
        raise ReportError(f"{where}: schema_version {version} is newer than this sgt-probe "
                          f"reads ({SCHEMA_VERSION}); upgrade sgt-probe")  # fmt: skip
    if version < OLDEST_READ:
        raise ReportError(f"{where}: schema_version {version} is older than this sgt-probe "
                          f"reads ({OLDEST_READ}); rerun `sgt-probe compare` to rewrite it")  # fmt: skip
    try:
        # strict: a number written as a string, or a count as a float, is an error, not
        # silently converted; validating the JSON text keeps arrays acceptable as tuples
        return ReportData.model_validate_json(text, strict=True)
    except ValidationError as e:
        raise ReportError(f"{where}: {_problems(e)}") from None


def load_report_data(path: str | Path) -> ReportData:
    """A report dir's report.json, checked; ReportError (one line) on any problem."""
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"{path}: not a report directory (missing)")
    jpath = path / REPORT_JSON
    if not jpath.is_file():
        raise ReportError(f"{jpath}: missing; run `sgt-probe compare ... --out {path}` first")
    try:
        text = jpath.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{jpath}: unreadable ({e})") from None
    return parse_report(text, jpath)


def load_report(path: str | Path) -> Report:
    """Read and check a report dir, arrays included; ReportError (one line) on any problem."""
    path = Path(path)
    data = load_report_data(path)
    apath = path / ARRAYS_NPZ
    arrays: dict[str, np.ndarray] = {}
    if apath.is_file():
        key = None
        try:
            # no pickles: an array of Python objects would run code of the file's choosing
            with np.load(apath, allow_pickle=False) as z:
                for key in z.files:
                    arrays[key] = z[key]
        except Exception as e:  # zipfile/ValueError/OSError: all mean a damaged file
            what = f"cannot read array {key!r}" if key is not None else "damaged array file"
            raise ReportError(f"{apath}: {what} ({type(e).__name__}: {e})") from None
    return Report(path=path, data=data, arrays=arrays)


def write_report(out: Path, data: ReportData, arrays: dict[str, np.ndarray]) -> None:
    """Write report.json and arrays.npz: both are written aside, then put in place together,
    so a reader (or an interrupt) finds the old report or the new one, never half of each."""
    out.mkdir(parents=True, exist_ok=True)
    arrays_tmp, json_tmp = out / (ARRAYS_NPZ + ".tmp.npz"), out / (REPORT_JSON + ".tmp")
    try:
        np.savez_compressed(arrays_tmp, **arrays)
        # pydantic writes NaN as null: strict JSON that browsers can parse
        json_tmp.write_text(data.model_dump_json(indent=1))
        with _uninterrupted():
            arrays_tmp.replace(out / ARRAYS_NPZ)
            json_tmp.replace(out / REPORT_JSON)
    finally:
        arrays_tmp.unlink(missing_ok=True)
        json_tmp.unlink(missing_ok=True)


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done, then reach their own handlers. Python
    runs handlers in the main thread only, so elsewhere there is nothing to hold."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    # getsignal gives None for a handler not set from Python: one that could not be put back
    held = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not None]
    old = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for signum in caught:
            signal.raise_signal(signum)
