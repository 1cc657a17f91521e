"""`sgt-probe data preview` and `sgt-probe data stats`, called through `main(argv)`."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from sgt_probe.cli import main
from sgt_probe.data import PROMPT_FAMILIES, QUESTION_FAMILIES
from sgt_probe.data.preview import grid_size


def test_preview_writes_a_png_of_the_expected_size(tmp_path):
    out = tmp_path / "sub" / "preview.png"
    argv = ["data", "preview", "--n", "4", "--fit-scenes", "64", "--n-codes", "64"]
    assert main([*argv, "--out", str(out)]) == 0
    with Image.open(out) as picture:
        # 2 x 2 tiles; a tile is 5 panels of 32*4 px with 4 px gaps, over 4 lines of 12 px
        assert picture.size == grid_size(4, 32) == (2 * (5 * 128 + 4 * 4 + 4) + 4, 2 * 180 + 4)
        pixels = np.asarray(picture.convert("RGB"))
    # the first panel is scene 0 upscaled x4 by nearest neighbour
    from sgt_probe.data import DataSpec, make_world

    scene = make_world(DataSpec()).scene(0)
    np.testing.assert_array_equal(pixels[4 : 4 + 128 : 4, 4 : 4 + 128 : 4], scene.image)


def test_stats_prints_every_family_and_class(capsys):
    assert main(["data", "stats", "--world", "digits", "--n", "60"]) == 0
    out = capsys.readouterr().out
    for word in (*QUESTION_FAMILIES, *PROMPT_FAMILIES, "background", "seven", "60 scenes"):
        assert word in out, word


def test_bad_folder_path_is_one_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["data", "stats", "--world", "folder", "--path", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(missing) in err and err.startswith("error:")


def test_unknown_world_exits_2(capsys):
    assert main(["data", "stats", "--world", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Invalid value for '--world'") and "'nope'" in err


def _tiny_folder(root):
    """Two random 32x32 images, each with a square of class 1, and their annotations."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
            root / "images" / name
        )
        mask = np.zeros((32, 32), dtype=np.uint8)
        mask[4:12, 4:12] = 1
        Image.fromarray(mask, mode="L").save(root / "masks" / name)
        qa = {
            "family": "existence",
            "question": "is there a box",
            "answer": "yes",
            "choices": ["yes", "no"],
        }
        record = {
            "image": name,
            "prompt": {"family": "single_object", "text": "a box"},
            "questions": [qa],
        }
        lines.append(json.dumps(record))
    (root / "annotations.jsonl").write_text("\n".join(lines) + "\n")


def test_folder_world_preview_and_stats(tmp_path, capsys):
    _tiny_folder(tmp_path / "d")
    world = ["--world", "folder", "--path", str(tmp_path / "d")]
    out = tmp_path / "p.png"
    argv = ["data", "preview", *world, "--n-codes", "16", "--out", str(out)]
    assert main(argv) == 0
    with Image.open(out) as picture:
        assert picture.size == grid_size(2, 32)  # --n 16 asks for more than the folder holds
    assert main(["data", "stats", *world]) == 0
    out = capsys.readouterr().out
    assert "2 scenes" in out and "class1" in out and "existence" in out
