"""Base training and SGT tuning: one loop, with or without a generative proxy task.

This module is light (the CLI checks `check_fresh` before importing the training stack).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sgt_probe.checkpoint import CheckpointError
from sgt_probe.model.config import TrainConfig


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


def check_resume(out: Path, tcfg: TrainConfig, saved: dict, step: int, resumable: bool,
                 same: dict[str, tuple[Any, Any]]) -> bool:  # fmt: skip
    """Whether the run at `out` is finished under the options asked for now (`tcfg`); a
    CheckpointError when they cannot continue it. The one check of every run resumed, a
    checkpoint file or a model directory: `saved` is the training config it saved, `step` the
    step it reached, `resumable` whether it kept the optimizer and random state (an exported
    one did not), `same` what else it was started with, by name, as (then, now) pairs that
    must agree (the model, the data, the base...).

    Only the step budget may differ from the run's: a larger one extends it (a learning curve
    still rising), its learning-rate schedule stretched to the new length. An option added since
    the run started (absent from `saved`) takes the value asked for now: extending a run may use
    it (the shipped bases began dropping prompts when extended).
    """
    was = TrainConfig.from_dict({**tcfg.to_dict(), **saved, "steps": tcfg.steps})
    if was != tcfg:
        raise CheckpointError(f"{out}: was started with another training config; cannot resume")
    for what, (then, now) in same.items():
        if then != now:
            raise CheckpointError(f"{out}: was started with another {what}; cannot resume")
    if step > tcfg.steps:
        raise CheckpointError(f"{out}: is at step {step}, past --steps {tcfg.steps}")
    if step < tcfg.steps and not resumable:
        raise CheckpointError(f"{out}: was exported (no optimizer or RNG state); cannot resume")
    return step == tcfg.steps
