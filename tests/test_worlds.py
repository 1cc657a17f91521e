"""The generated worlds: determinism, map consistency, occlusion, and text that is true."""

import re
from collections import Counter

import numpy as np
import pytest

from sgt_probe.data import PROMPT_FAMILIES, QUESTION_FAMILIES, DataSpec, make_world
from sgt_probe.data.digits import DIGIT_WORDS, digit_strokes, load_digit_images

N_SCENES = 48  # a multiple of the 6 prompt families


@pytest.fixture(scope="module", params=["shapes", "digits"])
def world(request):
    return make_world(DataSpec(world=request.param, seed=3))


@pytest.fixture(scope="module")
def scenes(world):
    return world.scenes(0, N_SCENES)


def _by_name(scene):
    return {(o.color, o.shape): o for o in scene.objects}


def test_world_attributes(world):
    assert world.class_names[0] == "background"
    assert world.class_names[1:] == world.shapes
    assert len(world.shapes) >= 4 and len(world.colors) >= 6
    assert world.palette.shape == (len(world.colors), 3) and world.palette.dtype == np.uint8
    assert len(world) >= 10**6
    words = world.words()
    assert words == sorted(set(words))


def test_splits_are_the_index_ranges_runs_always_used(world):
    # training from 0, evals from 1,000,000, probes from 2,000,000: earlier results stay valid
    assert world.split("train")[:3000] == range(0, 3000)
    assert world.split("eval")[:64] == range(1_000_000, 1_000_064)
    assert world.split("probe")[:160] == range(2_000_000, 2_000_160)
    train, evals, probe = (world.split(s) for s in ("train", "eval", "probe"))
    assert train.stop <= evals.start and evals.stop <= probe.start and probe.stop <= len(world)
    with pytest.raises(ValueError, match="unknown split 'test'"):
        world.split("test")


def test_same_seed_and_index_give_identical_scenes(world):
    again = make_world(DataSpec(world=world.name, seed=3))
    for index in (0, 5, 11):
        a, b = world.scene(index), again.scene(index)
        for field in ("image", "segmentation", "instances", "depth", "edges"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert (a.objects, a.prompt, a.questions) == (b.objects, b.prompt, b.questions)
    assert not np.array_equal(world.scene(0).image, world.scene(1).image)
    other_seed = make_world(DataSpec(world=world.name, seed=4))
    assert not np.array_equal(world.scene(0).image, other_seed.scene(0).image)


def test_scene_contents(world, scenes):
    lo, hi = (1, 4) if world.name == "shapes" else (2, 3)
    for s in scenes:
        size = world.image_size
        assert s.image.shape == (size, size, 3) and s.image.dtype == np.uint8
        assert lo <= len(s.objects) <= hi
        assert [o.instance_id for o in s.objects] == list(range(1, len(s.objects) + 1))
        assert sorted(o.depth_rank for o in s.objects) == list(range(1, len(s.objects) + 1))
        assert len({o.color for o in s.objects}) == len(s.objects)  # colors unique in a scene
        for o in s.objects:
            assert world.class_names[o.class_id] == o.shape
            color = world.palette[world.colors.index(o.color)]
            assert (s.image[s.instances == o.instance_id] == color).all()


def test_maps_agree_with_objects(scenes):
    for s in scenes:
        np.testing.assert_array_equal(s.instances > 0, s.segmentation > 0)
        for o in s.objects:
            visible = s.instances == o.instance_id
            assert visible.any()
            assert (s.segmentation[visible] == o.class_id).all()
            assert (s.depth[visible] == o.depth_rank).all()
            y0, x0, y1, x1 = o.bbox
            assert not (visible & ~_box(o.bbox, s.instances.shape[0])).any()
            assert 0 <= y0 < y1 <= s.instances.shape[0] and 0 <= x0 < x1
        assert (s.depth[s.instances == 0] == 0).all()


def _box(bbox, size):
    y0, x0, y1, x1 = bbox
    inside = np.zeros((size, size), dtype=bool)
    inside[y0:y1, x0:x1] = True
    return inside


def test_edges_mark_every_instance_boundary(scenes):
    for s in scenes[:6]:
        inst, edges = s.instances, s.edges
        h, w = inst.shape
        expected = np.zeros_like(edges)
        for y in range(h):
            for x in range(w):
                right = x + 1 < w and inst[y, x] != inst[y, x + 1]
                down = y + 1 < h and inst[y, x] != inst[y + 1, x]
                expected[y, x] = right or down
        np.testing.assert_array_equal(edges, expected)


def test_depth_matches_occlusion(world):
    """Re-render from the whole masks: the nearest covering object is the one that shows."""
    areas = {}
    for index in range(N_SCENES):
        scene = world.scene(index)
        masks, objects = world.full_masks(index)
        assert sorted(objects, key=lambda o: o.instance_id) == scene.objects
        stack = np.stack(masks)  # [n, S, S], back to front
        ranks = np.array([o.depth_rank for o in objects])
        ids = np.array([o.instance_id for o in objects])
        nearest = np.argmax(np.where(stack, ranks[:, None, None], 0), axis=0)  # [S, S]
        expected = np.where(stack.any(0), ids[nearest], 0)
        np.testing.assert_array_equal(scene.instances, expected)
        for o, mask in zip(objects, masks, strict=True):
            rows, cols = np.nonzero(mask)
            assert o.bbox == (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
            shown = (scene.instances == o.instance_id).sum()
            assert shown >= world.MIN_VISIBLE * mask.sum()  # occlusion is bounded
            areas.setdefault(o.depth_rank, []).append(mask.sum())
    # perspective: nearer objects are drawn larger on average
    means = [np.mean(areas[r]) for r in sorted(areas)]
    assert means == sorted(means) and means[-1] > 1.2 * means[0]


def test_background_is_grayish_and_objects_saturated(world, scenes):
    def spread(px):  # [..., 3] -> [...]: max - min channel, a saturation measure
        return px.max(-1).astype(int) - px.min(-1)

    palette_spread = spread(world.palette).min()
    for s in scenes:
        assert spread(s.image[s.instances == 0]).max() < palette_spread / 2
    assert palette_spread >= 120


def _shape_of(word, world):
    return next(s for s in world.shapes if word in (s + "s", s + "es"))


def _answer(q, s, world):
    """Recompute a question's answer from the object list alone."""
    by_name = _by_name(s)
    named = by_name.__getitem__
    if q.family == "count":
        (subject,) = re.fullmatch(r"how many (\w+) are there", q.question).groups()
        members = [
            o for o in s.objects if subject == "objects" or o.shape == _shape_of(subject, world)
        ]
        assert set(q.objects) == {o.instance_id for o in members}
        return ["zero", "one", "two", "three", "four"][len(members)]
    if q.family == "relation":
        c1, s1, c2, s2 = re.fullmatch(
            r"where is the (\w+) (\w+) relative to the (\w+) (\w+)", q.question
        ).groups()
        a, b = named((c1, s1)), named((c2, s2))
        assert q.objects == (a.instance_id, b.instance_id)
        dy, dx = a.center[0] - b.center[0], a.center[1] - b.center[1]
        assert abs(abs(dx) - abs(dy)) >= world.image_size / 16  # not a near tie
        if abs(dx) > abs(dy):
            return "right" if dx > 0 else "left"
        return "below" if dy > 0 else "above"
    if q.family == "depth":
        pattern = r"which is closer to the camera the (\w+) (\w+) or the (\w+) (\w+)"
        c1, s1, c2, s2 = re.fullmatch(pattern, q.question).groups()
        a, b = named((c1, s1)), named((c2, s2))
        assert a.shape != b.shape and q.choices == (a.shape, b.shape)
        return max(a, b, key=lambda o: o.depth_rank).shape
    if q.family == "distance":
        pattern = r"which is closer to the (\w+) (\w+) the (\w+) (\w+) or the (\w+) (\w+)"
        c0, s0, c1, s1, c2, s2 = re.fullmatch(pattern, q.question).groups()
        ref, a, b = named((c0, s0)), named((c1, s1)), named((c2, s2))
        assert a.shape != b.shape and q.choices == (a.shape, b.shape)

        def gap(o):
            return np.hypot(o.center[0] - ref.center[0], o.center[1] - ref.center[1])

        assert abs(gap(a) - gap(b)) >= world.image_size / 8  # not a near tie
        return min(a, b, key=gap).shape
    if q.family == "existence":
        color, shape = re.fullmatch(r"is there an? (\w+) (\w+)", q.question).groups()
        present = (color, shape) in by_name
        assert q.objects == ((by_name[(color, shape)].instance_id,) if present else ())
        return "yes" if present else "no"
    if q.family == "comparison":
        word, a, b = re.fullmatch(r"are there (more|fewer) (\w+) than (\w+)", q.question).groups()
        n_a, n_b = (sum(o.shape == _shape_of(p, world) for o in s.objects) for p in (a, b))
        assert n_a or n_b  # at least one of the two is in the scene
        return "yes" if (n_a > n_b if word == "more" else n_a < n_b) else "no"
    if q.family == "category":
        (color,) = re.fullmatch(r"what is the (\w+) object", q.question).groups()
        (o,) = [o for o in s.objects if o.color == color]
        assert q.objects == (o.instance_id,) and q.choices == tuple(world.shapes)
        return o.shape
    raise AssertionError(q.family)


def test_every_answer_agrees_with_the_object_list(world, scenes):
    seen = Counter()
    for s in scenes:
        families = [q.family for q in s.questions]
        assert families == [f for f in QUESTION_FAMILIES if f in families]  # one per family
        for q in s.questions:
            assert q.answer in q.choices
            assert q.answer == _answer(q, s, world), q.question
            seen[q.family] += 1
    assert set(seen) == set(QUESTION_FAMILIES)


@pytest.mark.parametrize("start", [0, 7])
def test_existence_is_exactly_balanced(world, start):
    answers = Counter(
        q.answer
        for s in world.scenes(start, start + 20)
        for q in s.questions
        if q.family == "existence"
    )
    assert answers == {"yes": 10, "no": 10}


def _prompt_is_true(p, s, world):
    """Check a prompt's text against the object list, independently of text.py."""
    counts = Counter(o.shape for o in s.objects)
    by_name = _by_name(s)
    article = r"an? "
    if p.family == "single_object":
        (shape,) = re.fullmatch(article + r"(\w+)", p.text).groups()
        return counts[shape] == 1
    if p.family == "colors":
        color, shape = re.fullmatch(article + r"(\w+) (\w+)", p.text).groups()
        return (color, shape) in by_name
    if p.family == "two_objects":
        a, b = re.fullmatch(f"{article}(\\w+) and {article}(\\w+)", p.text).groups()
        return a != b and counts[a] >= 1 and counts[b] >= 1
    if p.family == "color_attribution":
        c1, s1, c2, s2 = re.fullmatch(
            f"{article}(\\w+) (\\w+) and {article}(\\w+) (\\w+)", p.text
        ).groups()
        return (c1, s1) in by_name and (c2, s2) in by_name
    if p.family == "counting":
        number, plural = p.text.split(" ")
        return counts[_shape_of(plural, world)] == ["zero", "one", "two", "three", "four"].index(
            number
        )
    if p.family == "position":
        a, rel, b = re.fullmatch(
            f"{article}(\\w+) (left of|right of|above|below) {article}(\\w+)", p.text
        ).groups()
        (oa,) = [o for o in s.objects if o.shape == a]
        (ob,) = [o for o in s.objects if o.shape == b]
        dy, dx = oa.center[0] - ob.center[0], oa.center[1] - ob.center[1]
        horizontal = abs(dx) > abs(dy)
        truth = {"left of": horizontal and dx < 0, "right of": horizontal and dx > 0}
        truth |= {"above": not horizontal and dy < 0, "below": not horizontal and dy > 0}
        return truth[rel] and p.spec["relation"] == rel.split()[0]
    raise AssertionError(p.family)


def test_every_prompt_is_true_of_its_scene(world, scenes):
    for s in scenes:
        p = s.prompt
        assert _prompt_is_true(p, s, world), (p.text, s.objects)
        assert set(p.spec) == {"objects", "count", "relation"}
        named = [o["shape"] for o in p.spec["objects"]]
        colored = [o["color"] is not None for o in p.spec["objects"]]
        assert all(colored) == (p.family in ("colors", "color_attribution")) and any(
            colored
        ) == all(colored)
        if p.family == "counting":
            assert p.text.split()[0] == ["zero", "one", "two", "three", "four"][p.spec["count"]]
            assert named == [_shape_of(p.text.split()[1], world)]
        else:
            # "a"/"an" are never shape words, so the shape words of the text are the named shapes
            assert named == [w for w in p.text.split() if w in world.shapes]
    # the intended family (index % 6) is always achieved, so every family is equally common
    assert [s.prompt.family for s in scenes] == [PROMPT_FAMILIES[i % 6] for i in range(N_SCENES)]


def test_all_text_uses_the_world_vocabulary(world, scenes):
    words = set(world.words())
    for s in scenes:
        texts = [s.prompt.text] + [
            t for q in s.questions for t in (q.question, q.answer, *q.choices)
        ]
        for t in texts:
            assert t == " ".join(t.split()) and t == t.lower()
            assert set(t.split(" ")) <= words, t


def test_other_image_sizes(world):
    big = make_world(DataSpec(world=world.name, seed=1, image_size=48))
    s = big.scene(2)
    assert s.image.shape == (48, 48, 3) and s.segmentation.shape == (48, 48)
    assert s.instances.max() == len(s.objects)


def test_digits_are_real_sklearn_handwriting():
    world = make_world(DataSpec(world="digits", seed=5))
    assert world.shapes == list(DIGIT_WORDS)
    images, labels = load_digit_images()
    assert images.shape == (1797, 8, 8)  # the UCI set bundled with scikit-learn
    for index in range(3):
        masks, objects = world.full_masks(index)
        for o, mask in zip(objects, masks, strict=True):
            y0, x0, y1, x1 = o.bbox
            crop = mask[y0:y1, x0:x1]
            assert _matches_a_sample(crop, np.flatnonzero(labels == DIGIT_WORDS.index(o.shape)))


def _matches_a_sample(crop, samples):
    """True if some sample of the class, upscaled to some side, has exactly these strokes."""
    for side in range(8, 20):
        for sample in samples:
            strokes = digit_strokes(sample, side)
            rows, cols = np.nonzero(strokes)
            tight = strokes[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
            if tight.shape == crop.shape and (tight == crop).all():
                return True
    return False
