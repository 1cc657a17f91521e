"""Base training and SGT tuning: one loop, with or without a generative proxy task."""

from pathlib import Path


def log_path(out: str | Path) -> Path:
    """The metrics log beside checkpoint `out`: one JSON line per logged step. Only a resumed
    run rewrites it (dropping steps logged past its last checkpoint)."""
    return Path(out).with_suffix(".log.jsonl")
