"""Attention analysis on captured patterns: statistics and knockout masks (no model code)."""

from sgt_probe.attention.knockout import (
    apply_knockout_to_scores,
    knockout_mask,
    layer_windows,
    relative_change,
)
from sgt_probe.attention.stats import (
    GroundedPrecision,
    attention_entropy,
    attention_mass,
    grounded_chance,
    grounded_precision,
    sink_mass,
    type_chance,
    type_shares,
)

__all__ = [
    "GroundedPrecision",
    "apply_knockout_to_scores",
    "attention_entropy",
    "attention_mass",
    "grounded_chance",
    "grounded_precision",
    "knockout_mask",
    "layer_windows",
    "relative_change",
    "sink_mass",
    "type_chance",
    "type_shares",
]
