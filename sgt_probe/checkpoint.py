"""One-file checkpoints (docs/design.md §6): only tensors and plain containers, written atomically.

Loading uses `torch.load(weights_only=True)`, so a crafted file holding a pickled callable is
refused by torch's restricted unpickler before anything in it runs. torch is imported only when
a file is read or written, so that the CLI reports a missing file without loading it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import pickle
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

FORMAT = "sgt-probe-checkpoint"
FORMAT_VERSION = 1
REQUIRED = (
    "model_config", "train_config", "state_dict", "vocab", "tokenizer", "data_spec", "history",
    "step",
)  # fmt: skip


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line naming the file."""


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write `payload` (plus the format stamp) to `path` atomically: temp file, fsync, rename.

    A crash mid-write leaves the previous file at `path` intact.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _default_mode(0o666))  # as open() makes a file: readable by the lab
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _default_mode(mode: int) -> int:
    """`mode` under the process umask: what a plain open()/mkdir would give. mkstemp and mkdtemp
    make owner-only paths, which a shared lab folder cannot read."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Fill the yielded temporary folder beside `path`; on success it replaces `path` whole.

    A crash or an error while filling leaves the previous folder at `path` intact (the
    temporary one is removed). Every file is flushed to disk before the swap, and an existing
    `path` is swapped in one step (`_exchange`), so a reader sees the old folder or the new,
    never a mix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, _default_mode(0o777))  # as mkdir makes a folder, not mkdtemp's owner-only
    try:
        yield tmp
        for f in sorted(p for p in tmp.rglob("*") if p.is_file()):
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if path.exists():
            _exchange(tmp, path)  # tmp now holds the previous folder
        else:
            os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically with Linux renameat2(RENAME_EXCHANGE); where the C library
    or the file system lacks it, two renames (a crash between them leaves `b` missing, its
    previous contents beside it under the temporary name)."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is not None:
        at_cwd = -100  # AT_FDCWD: paths relative to the working directory
        if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), RENAME_EXCHANGE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), str(b))
    old = a.with_name(a.name + ".old")
    os.rename(b, old)
    os.rename(a, b)
    os.rename(old, a)


_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def _reason(e: BaseException) -> str:
    """The informative first sentence of an exception message, on one short line."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    specific = [ln for ln in lines if not ln.startswith(_BOILERPLATE)]
    return (specific or lines or [type(e).__name__])[0].split(". ")[0][:160]


def check_file(path: str | Path) -> Path:
    """`path` as a Path if it names a file to read a checkpoint from, else CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    if not path.is_file():  # a pipe or a device (/dev/zero) would be read without end
        raise CheckpointError(f"{path}: is not a regular file")
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    import torch

    path = check_file(path)
    try:
        with warnings.catch_warnings():
            # torch warns, over several lines, about a pickle protocol it did not write
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        # torch wraps the restricted unpickler's refusal in boilerplate; a file that names a
        # Python global (a class or callable) is code, anything else it rejects is just not a
        # torch file (random bytes, a raw pickle).
        if "GLOBAL" in str(e):
            raise CheckpointError(
                f"{path}: refused to load: it references Python code, not only tensors and "
                f"plain containers ({_reason(e)})"
            ) from None
        raise CheckpointError(f"{path}: not a readable checkpoint ({_reason(e)})") from None
    except Exception as e:
        # anything else torch's unpickler trips on in bytes that are not a torch file: a bad
        # zip or storage (RuntimeError, BadZipFile), and in a pickle stream that is not one an
        # IndexError, KeyError or TypeError (a seeded fuzzer found each: tests/test_hostile.py)
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or not a torch file: "
            f"{type(e).__name__}: {_reason(e)})"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an sgt-probe checkpoint (no {FORMAT!r} stamp)")
    version = ckpt.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r}; this sgt-probe reads version "
            f"{FORMAT_VERSION}"
        )
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: damaged checkpoint, missing {', '.join(missing)}")
    return ckpt
