"""Base checkpoints that ship with sgt-probe, one per generated world.

A competent base takes hours of CPU training (held-out answers leave their priors only after
thousands of steps), far more than the demo's budget, so the demo and the study tune these, as
the paper post-trains one released model. Each `<world>-<preset>.pt` was made by

    sgt-probe train --world <world> --preset <preset> --out sgt_probe/bases/<world>-<preset>.pt
    sgt-probe train --world <world> --preset <preset> --out sgt_probe/bases/<world>-<preset>.pt \
        --resume --steps N  # while the curve still rose: shapes 14,000, 18,000, 26,000 steps;
                            # digits 14,000, 22,000 (README: "The bases")
    sgt-probe export sgt_probe/bases/<world>-<preset>.pt  # drops optimizer state, keeps weights

and sits beside its training log (`.log.jsonl`) and its held-out scores (`.scores.json`, from
`sgt-probe eval <pt> --n 512 --proxies segmentation --out <scores>`). Loading one is like
loading any checkpoint (weights_only, validated).

The digits base was then given its preset's own tokenizer, starting from that base's weights
but its image codes: `--init-from` the 22,000-step base (git show af7d911:<path>), 6,000 steps,
then `--resume --steps 12000`, exported (git show e0227a1:<path>); then continued from that
exported base, its tokenizer and every weight, with `--init-from` and `--steps 4000` (README:
"The bases"). The checkpoint records where its last run started under "init".
"""

from __future__ import annotations

from pathlib import Path

BASES_DIR = Path(__file__).parent


def shipped_base(world: str, preset: str) -> Path | None:
    """The shipped base for (world, preset), or None when there is none."""
    path = BASES_DIR / f"{world}-{preset}.pt"
    return path if path.is_file() else None
