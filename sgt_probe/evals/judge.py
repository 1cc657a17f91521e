"""The generation judge: decides from pixels alone whether an image satisfies a `Prompt`.

It plays the part of GenEval's detector and is independent of the model under test:

- objects are found by color: each pixel within COLOR_RADIUS of an object palette color (the
  background is a low-saturation texture) takes the nearest one; pixels of one color form
  connected blobs, kept above a minimum area; the blob's color is that palette color;
- a blob's shape comes from a small scikit-learn classifier over its binary mask, trained at
  construction on ground-truth renders of a held-out seed (`spec.seed + HELD_OUT_SEED`), so it
  works for any generated world (shapes, digits) and never sees the scenes it is tested on.

`validate` measures the judge on ground-truth renders (true prompts, should be judged true)
and on negatives (another scene's prompt that is false of the image, should be judged false).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sgt_probe.data import PROMPT_FAMILIES, Prompt, SceneObject, World, make_world
from sgt_probe.data.text import relation as text_relation
from sgt_probe.data.world import GeneratedWorld
from sgt_probe.tokenizer import VQTokenizer

HELD_OUT_SEED = 10007  # added to the world's seed: the judge trains on scenes nobody else uses
COLOR_RADIUS = 70.0  # max RGB distance from a palette color for a pixel to count as object
MIN_AREA_FRACTION = 0.008  # blobs smaller than this share of the image are noise (8 px at 32px)
CROP = 12  # side of the resized blob mask the classifier reads


@dataclass(frozen=True)
class Detection:
    shape: str
    color: str
    bbox: tuple[int, int, int, int]  # (y0, x0, y1, x1), end-exclusive
    center: tuple[float, float]  # (y, x) centroid of the blob's pixels
    area: int  # pixels


def color_blobs(
    image: np.ndarray, palette: np.ndarray, min_area: int
) -> list[tuple[int, np.ndarray]]:
    """(palette index, bool [H, W] mask) of each object blob in a uint8 [H, W, 3] image."""
    dist = np.linalg.norm(
        image[:, :, None, :].astype(np.float32) - palette[None, None].astype(np.float32), axis=-1
    )  # [H, W, n_colors]
    nearest = dist.argmin(axis=-1)
    is_object = dist.min(axis=-1) <= COLOR_RADIUS
    blobs = []
    for c in np.unique(nearest[is_object]):
        # 8-connectivity: thin diagonal strokes (handwritten digits) stay one blob
        labels, n = ndimage.label(is_object & (nearest == c), structure=np.ones((3, 3)))
        for k in range(1, n + 1):
            mask = labels == k
            if mask.sum() >= min_area:
                blobs.append((int(c), mask))
    return blobs


def mask_features(mask: np.ndarray) -> np.ndarray:
    """float [CROP*CROP + 3]: the blob's mask, cropped to its box, padded to a square (keeping
    its aspect: a thin "one" must not stretch into a block) and area-resampled to CROP x CROP,
    plus aspect ratio, fill ratio and size relative to the image."""
    rows, cols = np.nonzero(mask)
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    h, w = y1 - y0, x1 - x0
    side = max(h, w)
    square = np.zeros((side, side), dtype=np.float32)
    oy, ox = (side - h) // 2, (side - w) // 2
    square[oy : oy + h, ox : ox + w] = mask[y0:y1, x0:x1]
    # exact area resampling: upsample by CROP, then average side x side blocks
    up = np.kron(square, np.ones((CROP, CROP), dtype=np.float32))  # [side*CROP, side*CROP]
    small = up.reshape(CROP, side, CROP, side).mean(axis=(1, 3))  # [CROP, CROP]
    extra = [h / w, mask.sum() / (h * w), side / mask.shape[0]]
    return np.concatenate([small.ravel(), np.asarray(extra, dtype=np.float32)])


def _relation(a: tuple[float, float], b: tuple[float, float]) -> str:
    """Where `a` lies relative to `b`, by the dominant axis of a - b (no margin: a judge must
    always decide)."""
    dy, dx = a[0] - b[0], a[1] - b[1]
    if abs(dx) > abs(dy):
        return "right" if dx > 0 else "left"
    return "below" if dy > 0 else "above"


def _matches(d: Detection, wanted: dict) -> bool:
    """Detection `d` fits a spec object {"shape": str, "color": str or None}."""
    return d.shape == wanted["shape"] and wanted["color"] in (None, d.color)


def prompt_holds(detections: list[Detection], spec: dict) -> bool:
    """Whether `detections` satisfy a `Prompt.spec`.

    Spec-driven, so it covers every family: each named object present (with its color if
    named); `count` objects of the first shape if `count` is set; the first named object on
    side `relation` of the second (each the largest match) if `relation` is set.
    """
    named = [[d for d in detections if _matches(d, o)] for o in spec["objects"]]
    if not all(named):
        return False
    if spec.get("count") is not None and len(named[0]) != spec["count"]:
        return False
    if spec.get("relation") is not None:
        a, b = (max(found, key=lambda d: d.area) for found in named[:2])
        return _relation(a.center, b.center) == spec["relation"]
    return True


def _as_detection(o: SceneObject) -> Detection:
    y0, x0, y1, x1 = o.bbox
    return Detection(o.shape, o.color, o.bbox, o.center, (y1 - y0) * (x1 - x0))


def _decidably_false(objects: list[SceneObject], prompt: Prompt, image_size: int) -> bool:
    """True when the object list makes `prompt` clearly false; relations whose truth is a close
    call (centres near each other or near the diagonal) are never used as negatives."""
    truth = [_as_detection(o) for o in objects]
    if not prompt_holds(truth, {**prompt.spec, "relation": None}):
        return True
    rel = prompt.spec.get("relation")
    if rel is None:
        return False
    # position prompts name shapes that occur once in their own scene; here they may not, and
    # then which one is meant is undecidable
    named = [[d for d in truth if _matches(d, w)] for w in prompt.spec["objects"][:2]]
    if any(len(found) != 1 for found in named):
        return False
    (a,), (b,) = named
    clear = text_relation(a.center, b.center, image_size)
    return clear is not None and clear != rel


def _round_trip(tokenizer: VQTokenizer, images: np.ndarray) -> np.ndarray:
    return tokenizer.decode(tokenizer.encode(images), images.shape[1])


def unjudgeable(world: World) -> str | None:
    """Why the judge cannot check `world`'s generations, or None when it can: it finds objects
    by the generated worlds' palette colors and learns shapes from their renders, so a world
    of the user's own images (folder) has nothing it could judge by."""
    if isinstance(world, GeneratedWorld):
        return None
    return f"the generation judge needs a generated world (shapes, digits), not {world.name!r}"


def _min_area(world: World) -> int:
    return max(4, round(MIN_AREA_FRACTION * world.image_size**2))


def training_blobs(world: World, n_train: int = 2000, tokenizer: VQTokenizer | None = None
                   ) -> tuple[np.ndarray, list[str]]:  # fmt: skip
    """The shape classifier's training set: (mask features [N, F], class names [N]) of every
    object blob in n_train renders of a held-out world seed, and of their VQ round trips when
    `tokenizer` is given; each blob labelled by the class under most of its pixels."""
    palette = np.asarray(world.palette, dtype=np.uint8)
    held_out = make_world(replace(world.spec, seed=world.spec.seed + HELD_OUT_SEED))
    scenes = held_out.scenes(0, n_train)
    images = [np.stack([s.image for s in scenes])]  # [n_train, S, S, 3]
    if tokenizer is not None:
        images.append(_round_trip(tokenizer, images[0]))
    features, labels = [], []
    for batch in images:
        for scene, image in zip(scenes, batch, strict=True):
            for _, mask in color_blobs(image, palette, _min_area(world)):
                classes = np.bincount(scene.segmentation[mask], minlength=len(world.class_names))
                if classes[1:].any():
                    features.append(mask_features(mask))
                    labels.append(world.class_names[int(classes[1:].argmax()) + 1])
    return np.stack(features), labels


class Judge:
    """Detects objects in a decoded image and checks prompts against them.

    Fitted at construction (a few seconds; the training blobs can be given). With `tokenizer`, the
    shape classifier also trains on the held-out renders after a VQ round trip, so it reads
    decoded images (what a generator's codes become) as well as crisp ones. The tokenizer is
    fitted on data, shared by every checkpoint, so the judge stays independent of the model
    under test.
    """

    def __init__(self, world: World, n_train: int = 2000, tokenizer: VQTokenizer | None = None,
                 blobs: tuple[np.ndarray, list[str]] | None = None):  # fmt: skip
        """`blobs`: `training_blobs(world, n_train, tokenizer)` computed earlier (the slow part,
        which a caller may keep); computed here when not given."""
        reason = unjudgeable(world)
        if reason:
            raise ValueError(reason)
        self.world = world
        self.palette = np.asarray(world.palette, dtype=np.uint8)
        self.min_area = _min_area(world)
        features, labels = blobs if blobs is not None else training_blobs(world, n_train, tokenizer)
        # an RBF SVM: on held-out digits it beat logistic regression (95% vs 90% of blobs) and
        # fits in under a second
        self.classifier_ = make_pipeline(StandardScaler(), SVC(C=10.0))
        self.classifier_.fit(features, labels)

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.detect_all([image])[0]

    def detect_all(self, images) -> list[list[Detection]]:
        """`detect` for each image, with one classifier call for every blob of every image: a
        benchmark's 512 images in one SVM predict instead of 512 (the same labels: each row is
        classified on its own). Equal feature rows are classified once: small blobs have few
        possible masks, and a weak model's noise blobs repeat them (7,108 blobs of 512 images
        of an untrained model held 368 distinct rows; the RBF SVM's predict costs per row)."""
        blobs = [color_blobs(np.asarray(im, dtype=np.uint8), self.palette, self.min_area)
                 for im in images]  # fmt: skip
        masks = [mask for per_image in blobs for _, mask in per_image]
        shapes = iter([])
        if masks:
            rows, row_of = np.unique(np.stack([mask_features(m) for m in masks]), axis=0,
                                     return_inverse=True)  # fmt: skip
            shapes = iter(self.classifier_.predict(rows)[row_of.reshape(-1)])
        return [[self._detection(color, mask, str(next(shapes))) for color, mask in per_image]
                for per_image in blobs]  # fmt: skip

    def _detection(self, color: int, mask: np.ndarray, shape: str) -> Detection:
        rows, cols = np.nonzero(mask)
        return Detection(
            shape=shape,
            color=self.world.colors[color],
            bbox=(int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1),
            center=(float(rows.mean()), float(cols.mean())),
            area=int(mask.sum()),
        )

    def check(self, image: np.ndarray, prompt: Prompt) -> bool:
        return prompt_holds(self.detect(image), prompt.spec)

    def validate(self, n: int = 300, tokenizer: VQTokenizer | None = None) -> dict:
        """Accuracy per prompt family on the first n scenes of the world's "eval" split: never
        seen by the judge (trained on another seed) nor by a tokenizer (fitted on "train").

        "gt": each scene with its own prompt, judged true. "negative": each scene with the next
        prompt of the same family (from a later scene) that its object list makes false, judged
        false. With `tokenizer`, images are VQ round-tripped first, as generated images are.
        """
        scenes = [self.world.scene(i) for i in self.world.split("eval")[:n]]
        n = len(scenes)
        images = np.stack([s.image for s in scenes])
        if tokenizer is not None:
            images = _round_trip(tokenizer, images)
        gt = {f: [] for f in PROMPT_FAMILIES}
        negative = {f: [] for f in PROMPT_FAMILIES}
        detected = self.detect_all(images)
        for i, (scene, found) in enumerate(zip(scenes, detected, strict=True)):
            gt[scene.prompt.family].append(prompt_holds(found, scene.prompt.spec))
            others = (scenes[(i + k) % n].prompt for k in range(1, n))
            false = next(
                (
                    p
                    for p in others
                    if p.family == scene.prompt.family
                    and _decidably_false(scene.objects, p, self.world.image_size)
                ),
                None,
            )
            if false is not None:
                negative[false.family].append(not prompt_holds(found, false.spec))
        return {
            "gt": {f: float(np.mean(v)) for f, v in gt.items() if v},
            "negative": {f: float(np.mean(v)) for f, v in negative.items() if v},
            "n_gt": {f: len(v) for f, v in gt.items()},
            "n_negative": {f: len(v) for f, v in negative.items()},
        }
