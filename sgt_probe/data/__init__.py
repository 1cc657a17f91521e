"""Scene worlds: every sample is a pure function of (spec.seed, index).

world = make_world(DataSpec(world="shapes", seed=0))
scene = world.scene(7)  # image, segmentation, instances, depth, edges, objects, prompt, QA
"""

from __future__ import annotations

from .scene import (
    FEW_LABEL_FAMILIES,
    PERCEPTION_FAMILIES,
    PROMPT_FAMILIES,
    QUESTION_FAMILIES,
    REASONING_FAMILIES,
    SCORED_FAMILIES,
    Prompt,
    QAItem,
    Scene,
    SceneObject,
)
from .spec import WORLDS, DataSpec
from .world import DataError, World


def make_world(spec: DataSpec) -> World:
    if spec.world == "shapes":
        from .shapes import ShapesWorld

        return ShapesWorld(spec)
    if spec.world == "digits":
        from .digits import DigitsWorld  # imports scikit-learn: only when asked for

        return DigitsWorld(spec)
    from .folder import FolderWorld

    return FolderWorld(spec)


__all__ = [
    "FEW_LABEL_FAMILIES",
    "PERCEPTION_FAMILIES",
    "PROMPT_FAMILIES",
    "QUESTION_FAMILIES",
    "REASONING_FAMILIES",
    "SCORED_FAMILIES",
    "WORLDS",
    "DataError",
    "DataSpec",
    "Prompt",
    "QAItem",
    "Scene",
    "SceneObject",
    "World",
    "make_world",
]
