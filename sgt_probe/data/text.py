"""Word-level text of the worlds: prompts (GenEval analogue) and questions (CV-Bench analogue).

Everything here is computed from a scene's object list (and, to pick depth pairs a viewer can
tell apart, each object's whole mask), never from rendered pixels, so an answer is ground
truth by construction. Text is lowercase words joined by single spaces.

`Prompt.spec`, what a generation evaluator checks, has the same keys for every family:

- ``objects``: list of ``{"shape": str, "color": str | None}``, the objects the prompt names,
  in prompt order; ``color`` is None where the prompt does not name a color.
- ``count``: int, how many objects of ``objects[0]["shape"]`` the image holds ("counting"),
  else None.
- ``relation``: where ``objects[0]`` lies relative to ``objects[1]`` ("left", "right",
  "above", "below"; "position"), else None.

Prompts name objects whose shape occurs once in the scene (counting excepted), so "a circle"
or "a circle left of a square" can be checked without guessing which circle is meant.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations, permutations

import numpy as np

from .scene import PROMPT_FAMILIES, Prompt, QAItem, SceneObject

NUMBER_WORDS = ("zero", "one", "two", "three", "four")
DIRECTIONS = ("left", "right", "above", "below")
YES_NO = ("yes", "no")
POSITION_WORDS = {"left": "left of", "right": "right of", "above": "above", "below": "below"}

COUNT_Q = "how many {} are there"
RELATION_Q = "where is the {} relative to the {}"
DEPTH_Q = "which is closer to the camera the {} or the {}"
DISTANCE_Q = "which is closer to the {} the {} or the {}"
EXISTENCE_Q = "is there {} {}"
COMPARISON_Q = "are there {} {} than {}"
CATEGORY_Q = "what is the {} object"
COMPARATIVES = ("more", "fewer")
FIXED_WORDS = "a an and objects top bottom center"

# A depth pair needs a cue visible in pixels: the nearer object covers >= OCCLUSION_PIXELS of
# the farther, or is drawn with >= DEPTH_SIZE_RATIO times its pixels. Box overlap and box area
# (the rule until 2026-11) let 16% of shapes pairs through with neither cue, and box area
# favoured the shapes whose box they fill least (the blind answerer's depth floor: shapes 0.64,
# digits 0.57 by box; 0.55 and 0.55 by pixels; 600 eval scenes, priors from 2,000 training).
OCCLUSION_PIXELS = 3
DEPTH_SIZE_RATIO = 1.25


def tokenize(text: str) -> list[str]:
    return text.split(" ")


def plural(word: str) -> str:
    return word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def with_article(words: str) -> str:
    return f"{article(words)} {words}"


def relation(a: tuple[float, float], b: tuple[float, float], image_size: int) -> str | None:
    """Where centre `a` lies relative to centre `b`, by the dominant axis of a - b.

    None when the centres are too close, or the two axes too even, to call it.
    """
    dy, dx = a[0] - b[0], a[1] - b[1]
    if max(abs(dy), abs(dx)) < image_size / 8 or abs(abs(dy) - abs(dx)) < image_size / 16:
        return None
    if abs(dx) > abs(dy):
        return "right" if dx > 0 else "left"
    return "below" if dy > 0 else "above"


def vocabulary(shapes: list[str], colors: list[str]) -> list[str]:
    """Sorted list of every word the generated prompts, questions and answers can use."""
    templates = [COUNT_Q, RELATION_Q, DEPTH_Q, DISTANCE_Q, EXISTENCE_Q, COMPARISON_Q, CATEGORY_Q,
                 FIXED_WORDS, *COMPARATIVES]  # fmt: skip
    templates += list(POSITION_WORDS.values()) + list(NUMBER_WORDS + DIRECTIONS + YES_NO)
    templates += shapes + [plural(s) for s in shapes] + colors
    return sorted({w for t in templates for w in t.replace("{}", " ").split()})


# Word types of the paper's Fig. 8b (attention allocated to object, colour, position and other
# words), with count words apart: they name quantities, not things.
WORD_TYPES = ("object", "colour", "position", "count", "other")
QUANTITY_WORDS = ("how", "many", "more", "fewer")


def word_types(words: list[str], shapes: list[str], colors: list[str]) -> list[str]:
    """The WORD_TYPES entry of each word of a prompt or question: a shape or its plural is an
    object, a color a colour, a direction a position; a number word before a plural (the
    counting prompt's "two circles") and the quantity words ("how many", "more", "fewer") are
    count words; anything else (articles, "and", "of", "is there", a piece of a word a
    tokenizer split) is other. Digit names are number words too: "one" is the object in "a
    one" and the count in "one sevens"."""
    objects = set(shapes) | {plural(s) for s in shapes}
    plurals = {plural(s) for s in shapes}
    out = []
    for i, w in enumerate(words):
        after = words[i + 1] if i + 1 < len(words) else ""
        if (w in NUMBER_WORDS and after in plurals) or w in QUANTITY_WORDS:
            out.append("count")
        elif w in objects:
            out.append("object")
        elif w in colors:
            out.append("colour")
        elif w in DIRECTIONS:
            out.append("position")
        else:
            out.append("other")
    return out


def _describe(o: SceneObject, color: bool) -> str:
    return f"{o.color} {o.shape}" if color else o.shape


def _prompt(
    family: str, named: list[SceneObject], color: bool, joiner: str = "and", rel: str | None = None
) -> Prompt:
    """A prompt naming `named` in order, e.g. "a red circle and a blue square"."""
    text = f" {joiner} ".join(with_article(_describe(o, color)) for o in named)
    spec_objects = [{"shape": o.shape, "color": o.color if color else None} for o in named]
    return Prompt(family, text, {"objects": spec_objects, "count": None, "relation": rel})


def prompt_candidates(family: str, objects: list[SceneObject], image_size: int) -> list[Prompt]:
    """Every prompt of `family` that is true of the scene (empty: the family is infeasible)."""
    counts = Counter(o.shape for o in objects)
    unique = [o for o in objects if counts[o.shape] == 1]
    pairs = list(permutations(unique, 2))  # shapes unique in the scene, so the two differ
    if family in ("single_object", "colors"):
        return [_prompt(family, [o], family == "colors") for o in unique]
    if family in ("two_objects", "color_attribution"):
        return [_prompt(family, [a, b], family == "color_attribution") for a, b in pairs]
    if family == "counting":
        return [
            Prompt(
                family,
                f"{NUMBER_WORDS[n]} {plural(shape)}",
                {"objects": [{"shape": shape, "color": None}], "count": n, "relation": None},
            )
            for shape, n in sorted(counts.items())
            if 2 <= n < len(NUMBER_WORDS)
        ]
    if family == "position":
        located = [(a, b, relation(a.center, b.center, image_size)) for a, b in pairs]
        return [
            _prompt(family, [a, b], False, POSITION_WORDS[rel], rel)
            for a, b, rel in located
            if rel is not None
        ]
    raise ValueError(f"unknown prompt family {family!r}")


def make_prompt(
    objects: list[SceneObject], index: int, rng: np.random.Generator, image_size: int
) -> Prompt:
    """The prompt for scene `index`: family `index % 6` if feasible, else the next feasible one."""
    n = len(PROMPT_FAMILIES)
    for step in range(n):
        candidates = prompt_candidates(PROMPT_FAMILIES[(index + step) % n], objects, image_size)
        if candidates:
            return candidates[rng.integers(len(candidates))]
    raise ValueError(f"scene {index}: no prompt family fits a scene with {len(objects)} objects")


def _name(o: SceneObject) -> str:
    return f"{o.color} {o.shape}"


def region(center: tuple[float, float], image_size: int) -> str:
    """The cell of a 3 x 3 grid a centre falls in: "top left", "top", ..., "center", ...,
    "bottom right"."""
    row, col = (min(int(3 * c / image_size), 2) for c in center)
    vertical, horizontal = ("top", "", "bottom")[row], ("left", "", "right")[col]
    return " ".join(w for w in (vertical, horizontal) if w) or "center"


def caption(objects: list[SceneObject], known_colors, image_size: int) -> str:
    """Every object in reading order (by grid cell, then left to right), each as where, then
    what: "top left red circle and center blue square". The dense captioning target of base
    training; each word is predictable from the one before it and the image alone (a region
    says where to look, a color which object to read the shape of). Colors outside
    `known_colors` are left out."""

    def key(o):
        return min(int(3 * o.center[0] / image_size), 2), o.center[1]

    return " and ".join(
        f"{region(o.center, image_size)} {_name(o) if o.color in known_colors else o.shape}"
        for o in sorted(objects, key=key)
    )


def _count(objects, rng, shapes) -> QAItem | None:
    kind = rng.integers(3)  # all objects / a shape in the scene / any shape (may be zero)
    if kind == 0:
        subject, members = "objects", objects
    else:
        pool = [o.shape for o in objects] if kind == 1 else shapes
        shape = pool[rng.integers(len(pool))]
        subject, members = plural(shape), [o for o in objects if o.shape == shape]
    if len(members) >= len(NUMBER_WORDS):
        return None
    return QAItem(
        "count",
        COUNT_Q.format(subject),
        NUMBER_WORDS[len(members)],
        NUMBER_WORDS,
        tuple(o.instance_id for o in members),
    )


def _relation(objects, rng, image_size) -> QAItem | None:
    options = [
        (a, b, rel)
        for a, b in permutations(objects, 2)
        if (rel := relation(a.center, b.center, image_size)) is not None
    ]
    if not options:
        return None
    a, b, rel = options[rng.integers(len(options))]
    question = RELATION_Q.format(_name(a), _name(b))
    return QAItem("relation", question, rel, DIRECTIONS, (a.instance_id, b.instance_id))


def depth_cue(near: np.ndarray, far: np.ndarray) -> bool:
    """Whether a viewer can tell which of two objects is nearer from their whole (unoccluded)
    masks, bool [S, S]: the nearer covers some of the farther, or is clearly larger."""
    covered = int(np.count_nonzero(near & far))
    return covered >= OCCLUSION_PIXELS or near.sum() >= DEPTH_SIZE_RATIO * far.sum()


def _depth(objects, masks, rng) -> QAItem | None:
    options = []
    for a, b in combinations(objects, 2):
        near, far = (a, b) if a.depth_rank > b.depth_rank else (b, a)
        cue = depth_cue(masks[near.instance_id], masks[far.instance_id])
        if a.shape != b.shape and a.depth_rank != b.depth_rank and cue:
            options.append((a, b) if rng.integers(2) else (b, a))
    if not options:
        return None
    a, b = options[rng.integers(len(options))]
    near = a if a.depth_rank > b.depth_rank else b
    question = DEPTH_Q.format(_name(a), _name(b))
    return QAItem("depth", question, near.shape, (a.shape, b.shape), (a.instance_id, b.instance_id))


def _gap(a: SceneObject, b: SceneObject) -> float:
    return float(np.hypot(a.center[0] - b.center[0], a.center[1] - b.center[1]))


def _distance(objects, rng, image_size) -> QAItem | None:
    options = []
    for ref in objects:
        others = [o for o in objects if o is not ref]
        for a, b in combinations(others, 2):
            if a.shape != b.shape and abs(_gap(ref, a) - _gap(ref, b)) >= image_size / 8:
                options.append((ref, a, b) if rng.integers(2) else (ref, b, a))
    if not options:
        return None
    ref, a, b = options[rng.integers(len(options))]
    answer = a.shape if _gap(ref, a) < _gap(ref, b) else b.shape
    question = DISTANCE_Q.format(_name(ref), _name(a), _name(b))
    ids = (ref.instance_id, a.instance_id, b.instance_id)
    return QAItem("distance", question, answer, (a.shape, b.shape), ids)


def _existence(objects, index, rng, shapes, colors) -> QAItem:
    """Present iff `index` is even, so any even run of consecutive scenes is exactly balanced."""
    if index % 2 == 0:
        o = objects[rng.integers(len(objects))]
        name, answer, ids = _name(o), "yes", (o.instance_id,)
    else:
        present = {(o.color, o.shape) for o in objects}
        absent = [(c, s) for c in colors for s in shapes if (c, s) not in present]
        color, shape = absent[rng.integers(len(absent))]
        name, answer, ids = f"{color} {shape}", "no", ()
    return QAItem("existence", EXISTENCE_Q.format(article(name), name), answer, YES_NO, ids)


def _comparison(objects, index, rng, shapes) -> QAItem | None:
    """ "are there more|fewer <a>s than <b>s": two counts, then a comparison (reasoning).

    At least one of the two shapes is in the scene. The answer is "yes" iff (index // 2) is
    odd when such a pair exists, so any run of 4 consecutive scenes is balanced (independent of
    existence's parity); the comparative is drawn at random, so which shape is present does not
    give the answer away."""
    counts = Counter(o.shape for o in objects)
    word = COMPARATIVES[rng.integers(len(COMPARATIVES))]
    pairs = [(a, b) for a, b in permutations(shapes, 2) if counts[a] or counts[b]]

    def truth(a, b) -> bool:
        return counts[a] > counts[b] if word == "more" else counts[a] < counts[b]

    want = (index // 2) % 2 == 1
    options = [(a, b) for a, b in pairs if truth(a, b) == want] or pairs
    if not options:
        return None
    a, b = options[rng.integers(len(options))]
    ids = tuple(o.instance_id for o in objects if o.shape in (a, b))
    answer = YES_NO[0] if truth(a, b) else YES_NO[1]
    return QAItem("comparison", COMPARISON_Q.format(word, plural(a), plural(b)), answer, YES_NO,
                  ids)  # fmt: skip


def _category(objects, rng, shapes) -> QAItem:
    """ "what is the <color> object": the class of the one object of that color (colors are
    unique in a scene); every class of the world is a choice."""
    o = objects[rng.integers(len(objects))]
    return QAItem("category", CATEGORY_Q.format(o.color), o.shape, tuple(shapes),
                  (o.instance_id,))  # fmt: skip


def make_questions(
    objects: list[SceneObject],
    masks: dict[int, np.ndarray],
    index: int,
    rng: np.random.Generator,
    shapes: list[str],
    colors: list[str],
    image_size: int,
) -> list[QAItem]:
    """One question per feasible family, in `QUESTION_FAMILIES` order. `masks`: each object's
    whole (unoccluded) mask, bool [S, S], by instance id (the depth question's visible cue)."""
    items = [
        _count(objects, rng, shapes),
        _relation(objects, rng, image_size),
        _depth(objects, masks, rng),
        _distance(objects, rng, image_size),
        _existence(objects, index, rng, shapes, colors),
        # drawn after the first five, so their questions are what they were before these two
        # families existed (the same random stream, consumed in the same order)
        _comparison(objects, index, rng, shapes),
        _category(objects, rng, shapes),
    ]
    return [item for item in items if item is not None]
