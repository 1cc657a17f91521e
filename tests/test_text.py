"""Prompts and questions from hand-made object lists."""

import numpy as np
import pytest

from sgt_probe.data import PROMPT_FAMILIES, QUESTION_FAMILIES, SceneObject, text
from sgt_probe.data.text import (
    article,
    make_prompt,
    make_questions,
    plural,
    prompt_candidates,
    relation,
    tokenize,
    vocabulary,
)

SIZE = 32
SHAPES = ["circle", "square", "triangle", "cross"]
COLORS = ["red", "green", "blue", "orange"]


def obj(instance_id, shape, color, center, rank, half=3):
    y, x = center
    bbox = (int(y - half), int(x - half), int(y + half), int(x + half))
    return SceneObject(instance_id, shape, color, SHAPES.index(shape) + 1, bbox, rank, center)


def rng():
    return np.random.default_rng(0)


def box_masks(objects):
    """Each object's whole mask: its box, filled."""
    out = {}
    for o in objects:
        m = np.zeros((SIZE, SIZE), bool)
        y0, x0, y1, x1 = o.bbox
        m[max(y0, 0) : y1, max(x0, 0) : x1] = True
        out[o.instance_id] = m
    return out


def questions(objects, index, masks=None):
    return make_questions(objects, masks or box_masks(objects), index, rng(), SHAPES, COLORS, SIZE)


def test_word_helpers():
    assert tokenize("a red circle") == ["a", "red", "circle"]
    assert [plural(w) for w in ("circle", "cross", "six", "one")] == [
        "circles",
        "crosses",
        "sixes",
        "ones",
    ]
    assert [article(w) for w in ("orange", "eight", "red")] == ["an", "an", "a"]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((10, 25), (10, 5), "right"),
        ((10, 5), (12, 25), "left"),
        ((2, 10), (20, 12), "above"),
        ((28, 10), (6, 12), "below"),
        ((10, 10), (12, 11), None),  # centres too close
        ((0, 0), (10, 11), None),  # diagonal: axes too even to call
    ],
)
def test_relation(a, b, expected):
    assert relation(a, b, SIZE) == expected


def test_one_object_allows_only_single_object_and_colors():
    objects = [obj(1, "circle", "red", (10, 10), 1)]
    feasible = [f for f in PROMPT_FAMILIES if prompt_candidates(f, objects, SIZE)]
    assert feasible == ["single_object", "colors"]
    (colors,) = prompt_candidates("colors", objects, SIZE)
    assert colors.text == "a red circle"
    assert colors.spec == {
        "objects": [{"shape": "circle", "color": "red"}],
        "count": None,
        "relation": None,
    }


def test_make_prompt_rotates_to_the_next_feasible_family():
    objects = [obj(1, "circle", "red", (10, 10), 1)]
    assert PROMPT_FAMILIES[2] == "counting"
    assert make_prompt(objects, 2, rng(), SIZE).family == "colors"  # counting is infeasible
    assert make_prompt(objects, 0, rng(), SIZE).text == "a circle"
    with pytest.raises(ValueError, match="no prompt family"):
        make_prompt([], 0, rng(), SIZE)


def test_counting_and_shape_uniqueness():
    objects = [
        obj(1, "circle", "red", (5, 5), 1),
        obj(2, "circle", "blue", (25, 25), 2),
        obj(3, "square", "green", (5, 25), 3),
    ]
    (counting,) = prompt_candidates("counting", objects, SIZE)
    assert counting.text == "two circles" and counting.spec["count"] == 2
    # "a circle" would be ambiguous with two circles: only the square may be named alone
    assert [p.text for p in prompt_candidates("single_object", objects, SIZE)] == ["a square"]
    assert prompt_candidates("two_objects", objects, SIZE) == []


def test_position_and_color_attribution():
    objects = [obj(1, "circle", "red", (16, 5), 1), obj(2, "square", "orange", (16, 25), 2)]
    texts = {p.text: p.spec["relation"] for p in prompt_candidates("position", objects, SIZE)}
    assert texts == {"a circle left of a square": "left", "a square right of a circle": "right"}
    attribution = {p.text for p in prompt_candidates("color_attribution", objects, SIZE)}
    assert attribution == {"a red circle and an orange square", "an orange square and a red circle"}


def test_questions_follow_the_object_list():
    objects = [
        obj(1, "circle", "red", (16, 4), 1),
        obj(2, "square", "blue", (16, 12), 3, half=5),  # overlaps the circle's box: depth cue
        obj(3, "cross", "green", (16, 28), 2),
    ]
    items = {q.family: q for q in questions(objects, 1)}
    assert set(items) == set(QUESTION_FAMILIES)
    assert items["count"].answer in ("zero", "one", "three")
    existence = items["existence"]  # odd index: the named object is absent
    assert existence.answer == "no" and existence.objects == ()
    color, shape = existence.question.split()[-2:]
    assert (color, shape) not in {(o.color, o.shape) for o in objects}
    depth = items["depth"]
    names = {f"{o.color} {o.shape}": o for o in objects}
    named = [o for n, o in names.items() if n in depth.question]
    assert depth.answer == max(named, key=lambda o: o.depth_rank).shape
    distance = items["distance"]
    assert len(distance.objects) == 3 and distance.answer in distance.choices


def counts_of(question: str) -> tuple[str, int, int]:
    """The comparative and the two counts an "are there more|fewer As than Bs" question names,
    counted in the scene independently of the question's own code."""
    word, a, _, b = question.split()[2:]
    return word, a, b


def test_comparison_compares_two_counts_and_is_balanced():
    objects = [obj(1, "circle", "red", (8, 8), 1), obj(2, "circle", "blue", (24, 8), 2),
               obj(3, "square", "green", (8, 24), 3)]  # fmt: skip
    counts = {"circles": 2, "squares": 1, "triangles": 0, "crosses": 0}
    answers = []
    for index in range(40):
        asked = make_questions(objects, box_masks(objects), index, np.random.default_rng(index),
                               SHAPES, COLORS, SIZE)  # fmt: skip
        (q,) = [q for q in asked if q.family == "comparison"]
        word, a, b = counts_of(q.question)
        assert counts[a] or counts[b]  # at least one of the two is in the scene
        truth = counts[a] > counts[b] if word == "more" else counts[a] < counts[b]
        assert q.answer == ("yes" if truth else "no") and q.choices == ("yes", "no")
        # the answer is yes exactly when (index // 2) is odd: balanced over any 4 scenes
        assert q.answer == ("yes" if (index // 2) % 2 else "no")
        answers.append((word, q.answer))
    assert {w for w, _ in answers} == {"more", "fewer"}


def test_category_asks_the_class_of_the_one_object_of_a_color():
    objects = [obj(1, "circle", "red", (8, 8), 1), obj(2, "cross", "blue", (24, 24), 2)]
    for index in range(10):
        (q,) = [q for q in questions(objects, index) if q.family == "category"]
        color = q.question.split()[3]
        named = next(o for o in objects if o.color == color)
        assert q.question == f"what is the {color} object" and q.answer == named.shape
        assert q.choices == tuple(SHAPES) and q.objects == (named.instance_id,)


def test_new_families_leave_the_older_questions_as_they_were():
    """comparison and category draw after the first five families from the same stream: a
    scene's other questions are what they were before the two existed (what the earlier bases
    were trained on), drawn here by the five families' own functions alone."""
    objects = [obj(1, "circle", "red", (16, 4), 1), obj(2, "square", "blue", (16, 12), 3, half=5),
               obj(3, "cross", "green", (16, 28), 2)]  # fmt: skip
    masks = box_masks(objects)
    for index in range(6):
        r = rng()
        older = [text._count(objects, r, SHAPES), text._relation(objects, r, SIZE),
                 text._depth(objects, masks, r), text._distance(objects, r, SIZE),
                 text._existence(objects, index, r, SHAPES, COLORS)]  # fmt: skip
        now = questions(objects, index)
        assert now[:-2] == [q for q in older if q is not None]
        assert [q.family for q in now[-2:]] == ["comparison", "category"]


def test_existence_present_on_even_index():
    objects = [obj(1, "circle", "red", (10, 10), 1), obj(2, "square", "blue", (20, 25), 2)]
    (existence,) = [q for q in questions(objects, 4) if q.family == "existence"]
    assert existence.answer == "yes" and len(existence.objects) == 1


def test_depth_needs_different_shapes_and_a_visible_cue():
    same_shape = [obj(1, "circle", "red", (5, 5), 1), obj(2, "circle", "blue", (5, 12), 2)]
    far_apart_same_size = [
        obj(1, "circle", "red", (5, 5), 1),
        obj(2, "square", "blue", (25, 25), 2),
    ]
    for objects in (same_shape, far_apart_same_size):
        families = [q.family for q in questions(objects, 0)]
        assert "depth" not in families and "distance" not in families


def depth_asked(masks):
    objects = [obj(1, "circle", "red", (8, 8), 1), obj(2, "square", "blue", (12, 12), 2)]
    return "depth" in [q.family for q in questions(objects, 0, masks)]


def test_depth_cue_is_read_in_pixels_not_boxes():
    far, near = np.zeros((SIZE, SIZE), bool), np.zeros((SIZE, SIZE), bool)
    far[4:12, 4:6] = far[10:12, 4:12] = True  # an L: its box holds the square's corner
    near[5:9, 7:11] = True  # inside the L's box, touching none of its pixels
    assert not depth_asked({1: far, 2: near})  # boxes overlap, pixels do not: no cue
    near[9:11, 7:11] = True  # now covers 4 of the L's pixels: occlusion
    assert depth_asked({1: far, 2: near})
    apart = np.zeros((SIZE, SIZE), bool)
    apart[20:30, 20:26] = True  # 60 pixels, away from the L's 24: clearly larger
    assert depth_asked({1: far, 2: apart})
    twin = np.zeros((SIZE, SIZE), bool)
    twin[20:30, 20:26] = True  # as large as `apart` and away from it: no cue
    assert not depth_asked({1: np.roll(twin, -16, axis=1), 2: apart})


def test_vocabulary():
    words = vocabulary(SHAPES, COLORS)
    assert words == sorted(set(words))
    assert {"how", "many", "circles", "crosses", "orange", "camera", "left", "of"} <= set(words)
    assert {"more", "fewer", "than", "what", "object"} <= set(words)
    assert not any("{" in w for w in words)
