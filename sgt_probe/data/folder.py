"""A user's own data, validated on load.

    DIR/images/NAME.png      RGB, image_size x image_size (DataSpec.image_size)
    DIR/masks/NAME.png       single channel, same size, pixel value = class id
    DIR/annotations.jsonl    one JSON object per image, with at least one question, e.g.
        {"image": "a.png", "prompt": {"family": "two_objects", "text": "a cat and a dog"},
         "questions": [{"family": "count", "question": "how many cats are there",
                        "answer": "one", "choices": ["zero", "one", "two"]}]}
    DIR/classes.json         optional list of class names, index = id (default "background",
                             "class1", ...)

Any problem raises `DataError` with the one-line message "<file>: <problem>". Objects are the
connected components (4-neighbourhood) of each class in the mask: shape = class name, color
"unknown", depth_rank 0 (no depth is known, and the depth map is all 0).

Train and held-out images are told apart by a hash of the file name (`FolderWorld.split`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import NoReturn

import numpy as np
from PIL import Image
from scipy import ndimage

from . import text
from .render import instance_edges
from .scene import PROMPT_FAMILIES, QUESTION_FAMILIES, Prompt, QAItem, Scene, SceneObject
from .spec import DataSpec
from .world import DataError, World, split_position

ANNOTATIONS = "annotations.jsonl"
CLASSES = "classes.json"
MASK_MODES = ("1", "L", "P", "I", "I;16")  # single-channel PIL modes
UNKNOWN_COLOR = "unknown"


def _fail(where: Path | str, problem: str) -> NoReturn:
    raise DataError(" ".join(f"{where}: {problem}".splitlines()))  # always one line


def _read_png(path: Path, kind: str) -> Image.Image:
    if not path.is_file():
        _fail(path, f"{kind} not found")
    try:
        with Image.open(path) as image:
            image.load()  # decodes everything, so truncated files fail here rather than later
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        _fail(path, f"cannot read {kind} png ({e})")
    return image


def _words(value: str) -> str:
    """Lowercase words joined by single spaces, as everywhere in the project."""
    return " ".join(value.lower().split())


def _get(record: dict, key: str, kind: type, where: str):
    value = record.get(key)
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        _fail(where, f"{key!r} must be a non-empty {kind.__name__}, got {value!r}")
    return value


def _parse_prompt(record: dict, where: str) -> Prompt:
    prompt = _get(record, "prompt", dict, where)
    family = _get(prompt, "family", str, where)
    if family not in PROMPT_FAMILIES:
        _fail(where, f"prompt family {family!r} is not one of {', '.join(PROMPT_FAMILIES)}")
    spec = prompt.get("spec", {"objects": [], "count": None, "relation": None})
    if not isinstance(spec, dict):
        _fail(where, f"prompt 'spec' must be an object, got {spec!r}")
    return Prompt(family, _words(_get(prompt, "text", str, where)), spec)


def _parse_question(item: dict, where: str) -> QAItem:
    if not isinstance(item, dict):
        _fail(where, f"each question must be an object, got {item!r}")
    family = _get(item, "family", str, where)
    if family not in QUESTION_FAMILIES:
        _fail(where, f"question family {family!r} is not one of {', '.join(QUESTION_FAMILIES)}")
    choices = _get(item, "choices", list, where)
    if not all(isinstance(c, str) and c.strip() for c in choices):
        _fail(where, f"'choices' must be non-empty strings, got {choices!r}")
    choices = tuple(_words(c) for c in choices)
    answer = _words(_get(item, "answer", str, where))
    if answer not in choices:
        _fail(where, f"answer {answer!r} is not among the choices {list(choices)}")
    objects = item.get("objects", [])
    if not (isinstance(objects, list) and all(isinstance(i, int) for i in objects)):
        _fail(where, f"'objects' must be a list of instance ids, got {objects!r}")
    question = _words(_get(item, "question", str, where))
    return QAItem(family, question, answer, choices, tuple(objects))


def _read_annotations(path: Path, names: list[str]) -> dict[str, tuple[Prompt, list[QAItem]]]:
    if not path.is_file():
        _fail(path, "file not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        _fail(path, f"cannot read ({e})")
    known, out = set(names), {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            _fail(where, f"malformed JSON ({e.msg} at column {e.colno})")
        if not isinstance(record, dict):
            _fail(where, f"expected a JSON object, got {type(record).__name__}")
        image = _get(record, "image", str, where)
        if image not in known:
            _fail(where, f"image {image!r} is not in images/")
        if image in out:
            _fail(where, f"second annotation for image {image!r}")
        questions = record.get("questions")
        # training, evals and probes all read an image through one of its questions
        if not (isinstance(questions, list) and questions):
            _fail(where, f"'questions' must be a non-empty list, got {questions!r}")
        out[image] = (_parse_prompt(record, where), [_parse_question(q, where) for q in questions])
    for name in names:
        if name not in out:
            _fail(path, f"no annotation line for image {name!r}")
    return out


def _read_classes(path: Path, n_needed: int) -> list[str]:
    if not path.exists():
        return ["background", *(f"class{i}" for i in range(1, n_needed))]
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        _fail(path, f"cannot read class list ({e})")
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        _fail(path, "expected a non-empty JSON list of class names")
    return [_words(n) for n in names]


def _held_out(name: str, fraction: float) -> bool:
    """Whether image `name` is held out: the first 8 bytes of its name's SHA-256, read as a
    fraction of 2**64, fall below `fraction`. It depends on the name alone, so adding images to
    a folder never moves one that was trained on into the held-out set."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


class FolderWorld(World):
    def __init__(self, spec: DataSpec):
        super().__init__(spec)
        self.root = root = Path(spec.path)
        if not root.is_dir():
            _fail(root, "data folder not found")
        image_dir = root / "images"
        if not image_dir.is_dir():
            _fail(image_dir, "folder not found (expected images/*.png)")
        paths = sorted(image_dir.glob("*.png"))
        if not paths:
            _fail(image_dir, "no .png images")
        self.names = [p.name for p in paths]
        self.images = np.stack([self._read_image(p) for p in paths])  # uint8 [N, S, S, 3]
        mask_paths = [root / "masks" / p.name for p in paths]
        self.masks = np.stack([self._read_mask(p) for p in mask_paths])  # int32 [N, S, S]
        most = self.masks.max(axis=(1, 2))  # [N], the largest class id in each mask
        self.class_names = _read_classes(root / CLASSES, int(most.max()) + 1)
        for path, top in zip(mask_paths, most, strict=True):
            if top >= len(self.class_names):
                _fail(path, f"class id {top} but {CLASSES} names {len(self.class_names)} classes")
        self.shapes = self.class_names[1:]
        self.colors = []
        self.palette = np.zeros((0, 3), dtype=np.uint8)
        self.annotations = _read_annotations(root / ANNOTATIONS, self.names)

    def _check_size(self, path: Path, image: Image.Image) -> None:
        s = self.image_size
        if image.size != (s, s):
            w, h = image.size
            _fail(path, f"size {w}x{h}, expected {s}x{s} (the data spec's image_size)")

    def _read_image(self, path: Path) -> np.ndarray:
        image = _read_png(path, "image")
        self._check_size(path, image)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)

    def _read_mask(self, path: Path) -> np.ndarray:
        mask = _read_png(path, "mask")
        if mask.mode not in MASK_MODES:
            _fail(path, f"mask must be single-channel (class id per pixel), got mode {mask.mode}")
        self._check_size(path, mask)
        ids = np.asarray(mask, dtype=np.int32)
        if ids.min() < 0:
            _fail(path, f"negative class id {ids.min()}")
        return ids

    def __len__(self) -> int:
        return len(self.names)

    def split(self, name: str) -> list[int]:
        """Image indices in name order. Train: the images not held out (`_held_out`, by file
        name and spec.eval_fraction). Eval and probe: the same held-out images (a folder of a
        few dozen images has too few to hold out two disjoint sets).

        A folder whose train or held-out side comes out empty is a DataError.
        """
        split_position(name)  # an unknown split name is an error
        fraction = self.spec.eval_fraction
        held = [_held_out(n, fraction) for n in self.names]
        train = [i for i, h in enumerate(held) if not h]
        held_out = [i for i, h in enumerate(held) if h]
        if not (train and held_out):
            _fail(
                self.root,
                f"{len(self)} images split into {len(train)} to train on and {len(held_out)} "
                f"held out (eval_fraction {fraction}); both need at least one: add images or "
                "change --eval-fraction",
            )
        return train if name == "train" else held_out

    def words(self) -> list[str]:
        words = set(text.vocabulary(self.shapes, self.colors))
        for prompt, questions in self.annotations.values():
            words.update(text.tokenize(prompt.text))
            for q in questions:
                words.update(text.tokenize(q.question))
                words.update(w for c in q.choices for w in text.tokenize(c))
        return sorted(words)

    def scene(self, index: int) -> Scene:
        if not 0 <= index < len(self):
            raise IndexError(f"scene index {index} out of range (the folder has {len(self)})")
        mask = self.masks[index].astype(np.int64)
        instances = np.zeros_like(mask)
        objects: list[SceneObject] = []
        for class_id in np.unique(mask[mask > 0]):
            labels, n = ndimage.label(mask == class_id)  # 4-neighbourhood components
            instances[labels > 0] = labels[labels > 0] + len(objects)
            centers = ndimage.center_of_mass(labels > 0, labels, range(1, n + 1))
            for box, center in zip(ndimage.find_objects(labels), centers, strict=True):
                objects.append(
                    SceneObject(
                        instance_id=len(objects) + 1,
                        shape=self.class_names[class_id],
                        color=UNKNOWN_COLOR,
                        class_id=int(class_id),
                        bbox=(box[0].start, box[1].start, box[0].stop, box[1].stop),
                        depth_rank=0,
                        center=(float(center[0]), float(center[1])),
                    )
                )
        prompt, questions = self.annotations[self.names[index]]
        return Scene(
            index=index,
            image=self.images[index].copy(),
            segmentation=mask,
            instances=instances,
            depth=np.zeros_like(mask),
            edges=instance_edges(instances),
            objects=objects,
            prompt=prompt,
            questions=list(questions),
        )
