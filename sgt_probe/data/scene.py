"""The plain data objects every world produces: one `Scene` per (seed, index).

Coordinates are (row, col) = (y, x); images are uint8 [H, W, 3]; maps are [H, W].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

QUESTION_FAMILIES = (
    "count", "relation", "depth", "distance", "existence", "comparison", "category",
)  # fmt: skip
# What each family tests. Perception: one perceived fact (a count, a place, an order in depth,
# a presence, a class). Reasoning: perceived facts combined by a logical or arithmetic step
# ("are there more circles than squares": two counts, then a comparison) - the split the
# paper's claim "gains are in perception, not reasoning" is tested on.
PERCEPTION_FAMILIES = ("count", "relation", "depth", "distance", "existence", "category")
REASONING_FAMILIES = ("comparison",)
# Asked by no base and by no tuning's dialogues: the few-label arm of the study teaches it from
# a few labelled scenes (TrainConfig.few_label_scenes), so it must be new to every base. Its
# held-out accuracy is reported per family but left out of the understanding overall, which
# would otherwise mix a family no model was taught into every comparison.
FEW_LABEL_FAMILIES = ("category",)
SCORED_FAMILIES = tuple(f for f in QUESTION_FAMILIES if f not in FEW_LABEL_FAMILIES)
PROMPT_FAMILIES = (
    "single_object",
    "two_objects",
    "counting",
    "colors",
    "position",
    "color_attribution",
)


@dataclass(frozen=True)
class SceneObject:
    """One drawn object. `depth_rank` 1 is the farthest object; larger is nearer (drawn later)."""

    instance_id: int  # 1..n, the value of this object's pixels in `Scene.instances`
    shape: str  # a word: "circle", "seven", ...
    color: str  # a word: "red", ...
    class_id: int  # semantic class (value in `Scene.segmentation`), 0 is background
    bbox: tuple[
        int, int, int, int
    ]  # (y0, x0, y1, x1), end-exclusive, of the full (unoccluded) object
    depth_rank: int
    center: tuple[float, float]  # (y, x) of the full object


@dataclass(frozen=True)
class QAItem:
    """A question whose answer is computed from the object list, never from pixels."""

    family: str  # one of QUESTION_FAMILIES
    question: str  # lowercase words separated by single spaces
    answer: str  # a single word, always one of `choices`
    choices: tuple[str, ...]  # the candidate answers (scored by argmax restricted to these)
    objects: tuple[int, ...] = ()  # instance ids the question names (first = grounding target)


@dataclass(frozen=True)
class Prompt:
    """A GenEval-style prompt that is true of the scene it came with."""

    family: str  # one of PROMPT_FAMILIES
    text: str  # lowercase words separated by single spaces
    # what the evaluator checks, e.g. {"shape": "circle", "count": 3} or
    # {"objects": [{"shape": "circle", "color": "red"}, ...], "relation": "left"}
    spec: dict = field(default_factory=dict)


@dataclass
class Scene:
    index: int
    image: np.ndarray  # uint8 [H, W, 3]
    segmentation: np.ndarray  # int64 [H, W], semantic class per pixel, 0 = background
    instances: np.ndarray  # int64 [H, W], instance id per pixel, 0 = background
    depth: np.ndarray  # int64 [H, W], depth_rank of the visible object, 0 = background
    edges: np.ndarray  # bool [H, W], boundaries between instance regions
    objects: list[SceneObject]
    prompt: Prompt
    questions: list[QAItem]
