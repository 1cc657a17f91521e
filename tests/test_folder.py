"""The folder world: a valid folder loads; each kind of bad input is a one-line error naming it."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from sgt_probe.data import DataError, DataSpec, make_world
from sgt_probe.data.folder import _held_out

SIZE = 32


def _annotation(image, answer="one", family="two_objects"):
    return {
        "image": image,
        "prompt": {"family": family, "text": "A cat  and a dog"},
        "questions": [
            {
                "family": "count",
                "question": "how many dogs are there",
                "answer": answer,
                "choices": ["zero", "one", "two"],
            }
        ],
    }


def _write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def folder(tmp_path):
    """Two 32x32 images; each mask holds two separate cat blobs (class 1) and one dog (class 2)."""
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for name in ("img0.png", "img1.png"):
        image = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / "images" / name)
        mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
        mask[2:8, 2:8] = 1
        mask[20:26, 2:8] = 1
        mask[10:20, 15:30] = 2
        Image.fromarray(mask, mode="L").save(root / "masks" / name)
    (root / "classes.json").write_text(json.dumps(["background", "cat", "dog"]))
    _write_lines(root / "annotations.jsonl", [_annotation("img0.png"), _annotation("img1.png")])
    return root


def _load(root):
    return make_world(DataSpec(world="folder", path=str(root), image_size=SIZE))


def test_valid_folder_loads(folder):
    world = _load(folder)
    assert len(world) == 2
    assert world.class_names == ["background", "cat", "dog"] and world.shapes == ["cat", "dog"]
    s = world.scene(0)
    expected = np.asarray(Image.open(folder / "images" / "img0.png"))
    np.testing.assert_array_equal(s.image, expected)
    np.testing.assert_array_equal(
        s.segmentation, np.asarray(Image.open(folder / "masks" / "img0.png"))
    )
    assert [(o.shape, o.class_id, o.bbox) for o in s.objects] == [
        ("cat", 1, (2, 2, 8, 8)),
        ("cat", 1, (20, 2, 26, 8)),
        ("dog", 2, (10, 15, 20, 30)),
    ]
    assert s.objects[0].center == (4.5, 4.5) and s.objects[0].color == "unknown"
    for o in s.objects:  # one instance per connected component
        assert (s.instances == o.instance_id).sum() == (o.bbox[2] - o.bbox[0]) * (
            o.bbox[3] - o.bbox[1]
        )
    assert (s.depth == 0).all()
    assert s.edges[1, 2] and s.edges[7, 3] and not s.edges[4, 4]  # top, bottom, inside of a cat
    assert s.prompt.text == "a cat and a dog"  # normalised: lowercase, single spaces
    assert s.questions[0].answer == "one"
    assert {"cat", "dog", "dogs", "how"} <= set(world.words())
    with pytest.raises(IndexError):
        world.scene(2)


def test_split_holds_images_out_by_name(folder):
    world = _load(folder)
    train, evals = world.split("train"), world.split("eval")
    assert sorted(train + evals) == [0, 1] and not set(train) & set(evals)
    assert world.split("probe") == evals  # a folder holds out one set for evals and probes
    # adding images never moves an existing one to the other side
    for k in range(2, 30):
        shutil.copy(folder / "images" / "img0.png", folder / "images" / f"img{k}.png")
        shutil.copy(folder / "masks" / "img0.png", folder / "masks" / f"img{k}.png")
    records = [_annotation(f"img{k}.png") for k in range(30)]
    _write_lines(folder / "annotations.jsonl", records)
    bigger = _load(folder)
    held = {bigger.names[i] for i in bigger.split("eval")}
    assert {world.names[i] for i in evals} <= held
    assert {world.names[i] for i in train}.isdisjoint(held)


def test_split_follows_the_eval_fraction():
    names = [f"photo_{k}.png" for k in range(4000)]
    for fraction in (0.1, 0.5):
        share = sum(_held_out(n, fraction) for n in names) / len(names)
        assert abs(share - fraction) < 0.03, (fraction, share)


def test_a_folder_too_small_to_split_is_a_one_line_error(folder):
    for sub in ("images", "masks"):
        (folder / sub / "img0.png").unlink()
    _write_lines(folder / "annotations.jsonl", [_annotation("img1.png")])
    world = _load(folder)  # a one-image folder still loads (data stats, data preview)
    with pytest.raises(DataError) as info:
        world.split("train")
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{folder}: 1 images split into")
    assert "--eval-fraction" in message


def test_default_class_names(folder):
    (folder / "classes.json").unlink()
    assert _load(folder).class_names == ["background", "class1", "class2"]


def _save_image(folder, name, array, sub="images"):
    Image.fromarray(array).save(folder / sub / name)


def _bad_annotations(records):
    return lambda f: _write_lines(f / "annotations.jsonl", records)


BAD = {
    "missing folder": (lambda f: shutil.rmtree(f), "data", "data folder not found"),
    "missing images dir": (lambda f: shutil.rmtree(f / "images"), "images", "folder not found"),
    "no images": (
        lambda f: [p.unlink() for p in (f / "images").glob("*.png")],
        "images",
        "no .png images",
    ),
    "corrupt png": (
        lambda f: (f / "images" / "img1.png").write_bytes(b"not a png at all"),
        "img1.png",
        "cannot read image png",
    ),
    "truncated png": (
        lambda f: (f / "images" / "img0.png").write_bytes(
            (f / "images" / "img0.png").read_bytes()[:200]
        ),
        "img0.png",
        "cannot read image png",
    ),
    "not square": (
        lambda f: _save_image(f, "img0.png", np.zeros((SIZE, 24, 3), np.uint8)),
        "img0.png",
        "size 24x32, expected 32x32",
    ),
    "not image_size": (
        lambda f: _save_image(f, "img1.png", np.zeros((48, 48, 3), np.uint8)),
        "img1.png",
        "size 48x48, expected 32x32",
    ),
    "mask missing": (
        lambda f: (f / "masks" / "img1.png").unlink(),
        "masks/img1.png",
        "mask not found",
    ),
    "mask size": (
        lambda f: _save_image(f, "img0.png", np.zeros((16, 16), np.uint8), "masks"),
        "masks/img0.png",
        "size 16x16",
    ),
    "mask not single-channel": (
        lambda f: _save_image(f, "img0.png", np.zeros((SIZE, SIZE, 3), np.uint8), "masks"),
        "masks/img0.png",
        "single-channel",
    ),
    "class id beyond classes.json": (
        lambda f: _save_image(f, "img1.png", np.full((SIZE, SIZE), 5, np.uint8), "masks"),
        "masks/img1.png",
        "class id 5 but classes.json names 3 classes",
    ),
    "bad classes.json": (
        lambda f: (f / "classes.json").write_text("{oops"),
        "classes.json",
        "cannot read class list",
    ),
    "no annotations file": (
        lambda f: (f / "annotations.jsonl").unlink(),
        "annotations.jsonl",
        "file not found",
    ),
    "malformed json line": (
        lambda f: (f / "annotations.jsonl").write_text(
            json.dumps(_annotation("img0.png")) + "\n{bad\n"
        ),
        "annotations.jsonl line 2",
        "malformed JSON",
    ),
    "unknown image": (
        _bad_annotations(
            [_annotation("img0.png"), _annotation("img1.png"), _annotation("ghost.png")]
        ),
        "annotations.jsonl line 3",
        "image 'ghost.png' is not in images/",
    ),
    "answer not in choices": (
        _bad_annotations([_annotation("img0.png", answer="seven"), _annotation("img1.png")]),
        "annotations.jsonl line 1",
        "answer 'seven' is not among the choices",
    ),
    "unknown family": (
        _bad_annotations([_annotation("img0.png"), _annotation("img1.png", family="poetry")]),
        "annotations.jsonl line 2",
        "prompt family 'poetry'",
    ),
    "image without annotation": (
        _bad_annotations([_annotation("img0.png")]),
        "annotations.jsonl",
        "no annotation line for image 'img1.png'",
    ),
    "no questions": (
        _bad_annotations([_annotation("img0.png"), {**_annotation("img1.png"), "questions": []}]),
        "annotations.jsonl line 2",
        "'questions' must be a non-empty list",
    ),
    "duplicate annotation": (
        _bad_annotations([_annotation("img0.png"), _annotation("img0.png")]),
        "annotations.jsonl line 2",
        "second annotation",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_one_line_error_naming_the_file(folder, case):
    breaks, file_part, problem = BAD[case]
    breaks(folder)
    with pytest.raises(DataError) as info:
        _load(folder)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message
    assert file_part in message and problem in message, message
