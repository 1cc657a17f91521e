"""Base training and SGT tuning: one loop, with or without a generative proxy task."""

from pathlib import Path


def log_path(out: str | Path) -> Path:
    """The metrics log beside checkpoint `out`: one JSON line per logged step. Only a resumed
    run rewrites it (dropping steps logged past its last checkpoint)."""
    return Path(out).with_suffix(".log.jsonl")


def check_fresh(out: str | Path, resume: bool) -> None:
    """Without `resume`, an existing checkpoint or training log at `out` is never silently
    continued or overwritten: FileExistsError naming it. (Light: the CLI checks it first.)"""
    if resume:
        return
    for existing in (Path(out), log_path(out)):
        if existing.exists():
            raise FileExistsError(
                f"{existing} exists; pass --resume to continue that run or choose another --out"
            )
