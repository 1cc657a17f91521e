"""A picture and a table of a world, to see what the model will be trained on.

`preview_grid` tiles samples; each tile shows the scene, its segmentation, depth and edge
renders (the proxy targets) and the scene after a VQ round trip, above its prompt and one
question. `world_stats` counts classes, question families, answers and prompt families.
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from .proxies import render_proxy
from .scene import PROMPT_FAMILIES, QUESTION_FAMILIES
from .world import World

if TYPE_CHECKING:  # the tokenizer package imports data; only the annotation points back
    from sgt_probe.tokenizer import VQTokenizer

PANELS = ("image", "segmentation", "depth", "edge", "vq")
SCALE = 4  # nearest-neighbour upscale: 32px scenes become 128px panels
GAP = 4  # pixels between panels and around tiles
LINE_HEIGHT = 12  # PIL's default bitmap font is ~11px tall
TEXT_LINES = 4  # panel names, prompt, and a question/answer wrapped onto two lines
CHAR_WIDTH = 6  # of the default font, to wrap text to the tile width
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)


def tile_size(image_size: int) -> tuple[int, int]:
    """(width, height) of one sample's tile."""
    side = image_size * SCALE
    return len(PANELS) * side + (len(PANELS) - 1) * GAP, side + TEXT_LINES * LINE_HEIGHT


def grid_size(n: int, image_size: int) -> tuple[int, int]:
    """(width, height) of `preview_grid(world, n, ...)`: a near-square grid of tiles."""
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    w, h = tile_size(image_size)
    return cols * (w + GAP) + GAP, rows * (h + GAP) + GAP


def _lines(scene, width_chars: int) -> list[str]:
    """Text under a tile: panel names, the prompt, one question (families rotate by index)."""
    lines = ["  ".join(PANELS), f"prompt: {scene.prompt.text}"]
    if scene.questions:
        qa = scene.questions[scene.index % len(scene.questions)]
        lines += textwrap.wrap(f"{qa.family}: {qa.question}? {qa.answer}", width_chars)
    return [line[:width_chars] for line in lines[:TEXT_LINES]]


def preview_grid(world: World, n: int, tokenizer: VQTokenizer) -> Image.Image:
    """One RGB picture of scenes 0..n (fewer if the world is smaller)."""
    scenes = world.scenes(0, min(n, len(world)))
    size, n_classes = world.image_size, len(world.class_names)
    images = np.stack([s.image for s in scenes])
    vq = tokenizer.decode(tokenizer.encode(images), size)  # [N, S, S, 3]
    tile_w, tile_h = tile_size(size)
    cols = math.ceil(math.sqrt(len(scenes)))
    canvas = Image.new("RGB", grid_size(len(scenes), size), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i, (scene, decoded) in enumerate(zip(scenes, vq, strict=True)):
        x0 = GAP + (i % cols) * (tile_w + GAP)
        y0 = GAP + (i // cols) * (tile_h + GAP)
        panels = [
            scene.image,
            *(render_proxy(scene, p, n_classes)[1] for p in ("segmentation", "depth", "edge")),
            decoded,
        ]
        for j, panel in enumerate(panels):
            big = np.kron(panel, np.ones((SCALE, SCALE, 1), dtype=np.uint8))  # [S*4, S*4, 3]
            canvas.paste(Image.fromarray(big), (x0 + j * (size * SCALE + GAP), y0))
        for k, line in enumerate(_lines(scene, tile_w // CHAR_WIDTH)):
            draw.text((x0, y0 + size * SCALE + 1 + k * LINE_HEIGHT), line, fill=INK)
    return canvas


def world_stats(world: World, n: int) -> dict:
    """Counts over scenes 0..n (fewer if the world is smaller).

    classes: {name: {"pixels", "objects"}}; questions: {family: count}; answers: {family:
    {answer: count}}; prompts: {family: count}. Every class and family is listed, zeros too.
    """
    scenes = world.scenes(0, min(n, len(world)))
    pixels = np.zeros(len(world.class_names), dtype=np.int64)
    objects = Counter()
    answers = {f: Counter() for f in QUESTION_FAMILIES}
    for s in scenes:
        pixels += np.bincount(s.segmentation.ravel(), minlength=len(pixels))
        objects.update(o.class_id for o in s.objects)
        for q in s.questions:
            answers[q.family][q.answer] += 1
    prompts = Counter(s.prompt.family for s in scenes)
    return {
        "n_scenes": len(scenes),
        "classes": {
            name: {"pixels": int(pixels[c]), "objects": objects[c]}
            for c, name in enumerate(world.class_names)
        },
        "questions": {f: sum(a.values()) for f, a in answers.items()},
        "answers": {f: dict(sorted(a.items())) for f, a in answers.items()},
        "prompts": {f: prompts[f] for f in PROMPT_FAMILIES},
    }
