"""Scenes as Emu3 sequences: images tokenized by the model's own processor and VQ-VAE, prompts
in Emu3's chat and generation layouts, every position tagged with its role (docs/design.md §3).

    understanding: <bos> USER: IMAGE question ASSISTANT:                 -> answer
    dialogue:      <bos> USER: IMAGE q1 ASSISTANT: -> a1  USER: q2 ASSISTANT: -> a2 ...
    caption:       <bos> USER: IMAGE describe the image ASSISTANT:       -> caption
    generation:    <bos> prompt HEADER                                   -> ROWS <eof> <eoi>
    proxy:         <bos> USER: IMAGE draw the ... ASSISTANT: HEADER      -> ROWS <eof> <eoi>

IMAGE is the block the processor lays out for an image (`<|image start|>` h*w
`<|image token|>`, h rows of w visual tokens each closed by an end-of-row token, `<eof>`,
`<|image end|>`), with the VQ-VAE's codes in place of the processor's placeholders, exactly as
the model substitutes them; HEADER is the block's opening, which the processor also writes
for image generation. Roles: visual tokens are image positions, the question words text, the
answer cue and a proxy's instruction task tokens, everything the model draws (end-of-row
tokens included) generated.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from sgt_probe.capture.bridge import ImageGrid
from sgt_probe.checkpoint import CheckpointError
from sgt_probe.data.text import caption
from sgt_probe.model.sequences import (
    ROLE_ANSWER,
    ROLE_GENERATED,
    ROLE_IMAGE,
    ROLE_SPECIAL,
    ROLE_TASK,
    ROLE_TEXT,
    Item,
)
from sgt_probe.tuning.taskdata import TaskData

USER = "USER: "
NEXT_USER = " USER: "
CUE = " ASSISTANT:"  # what precedes an answer in Emu3-Chat's prompts
DESCRIBE = "describe the image"
INSTRUCTIONS = {
    "segmentation": "draw the segmentation map",
    "depth": "draw the depth map",
    "edge": "draw the edges",
    "reconstruction": "draw the image again",
    "inpainting": "draw the image with its gray patches filled in",
}


class Emu3Images:
    """The model's image tokenizer: its processor (resize, normalize) and VQ-VAE, both ways.

    `grid` is the token grid of a world image (its side after the processor's resize, over the
    VQ-VAE's downsampling); the world's image side must be a multiple of it, so that every
    token covers whole world pixels (patch labels and object masks pool to it exactly).
    """

    def __init__(self, model, processor, image_size: int, path, batch_size: int = 32):
        self.model, self.processor = model, processor
        self.vq = model.model.vqmodel
        self.image_size, self.batch_size = image_size, batch_size
        blank = np.zeros((image_size, image_size, 3), np.uint8)
        h, w = (int(v) for v in processor.image_processor(images=[blank])["image_sizes"][0])
        factor = self.vq.vision_spatial_factor
        if h != w or h % factor:
            raise CheckpointError(
                f"{path}: its processor resizes a {image_size}-pixel square image to {h}x{w}, "
                f"not a square multiple of the VQ-VAE's {factor}"
            )
        self.grid = h // factor
        if image_size % self.grid:
            size = self.grid * max(1, -(-image_size // self.grid))
            raise CheckpointError(
                f"{path}: reads a {image_size}-pixel image as a {self.grid}x{self.grid} token "
                f"grid; give a world image size that is a multiple of {self.grid} "
                f"(--image-size {size})"
            )

    @property
    def device(self) -> torch.device:
        return next(self.vq.parameters()).device

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, S, S, 3] -> int64 [N, grid * grid] VQ codes, row-major."""
        out = []
        for s in range(0, len(images), self.batch_size):
            feats = self.processor.image_processor(images=list(images[s : s + self.batch_size]),
                                                   return_tensors="pt")  # fmt: skip
            pixels = feats["pixel_values"].to(self.device, self.vq.dtype)
            codes = self.vq.encode(pixels, feats["image_sizes"]).image_tokens
            out.append(torch.stack(codes).flatten(1).cpu())
        return torch.cat(out).numpy().astype(np.int64)

    @torch.no_grad()
    def decode(self, codes: np.ndarray) -> np.ndarray:
        """int64 [N, grid * grid] -> uint8 [N, S, S, 3]: the VQ-VAE's pixels through the
        processor's postprocessing, area-resampled to the world's image size."""
        out = []
        size = (self.image_size, self.image_size)
        for s in range(0, len(codes), self.batch_size):
            chunk = torch.as_tensor(codes[s : s + self.batch_size], device=self.device)
            pixels = self.vq.decode(chunk.view(len(chunk), self.grid, self.grid))
            pil = self.processor.postprocess(list(pixels.float().cpu()),
                                             return_tensors="PIL.Image.Image")["pixel_values"]  # fmt: skip
            out += [np.asarray(im.convert("RGB").resize(size, Image.Resampling.BOX)) for im in pil]
        return np.stack(out)


class Emu3Layout:
    """Token ids and roles of Emu3 prompts, the image block and header taken from the model's
    own processor (see the module docstring)."""

    def __init__(self, model, processor, images: Emu3Images, path):
        tok = self.tokenizer = processor.tokenizer
        self.bos = tok.bos_token_id
        mapping = model.vocabulary_mapping
        self.eol = mapping.eol_token_id
        # visual token id of each VQ code: the model's own mapping
        self.visual = mapping.img2bpe_mapping_tensor.long()
        size, grid = images.image_size, images.grid
        blank = np.zeros((size, size, 3), np.uint8)  # laid out as a world image is
        ids = processor(images=[blank], text=[tok.image_token])["input_ids"][0]
        start, end = ids.index(tok.convert_tokens_to_ids(tok.boi_token)), ids.index(
            tok.convert_tokens_to_ids(tok.eoi_token))  # fmt: skip
        self.block = list(ids[start : end + 1])  # placeholders where the codes go
        self.placeholder = tok.image_token_id
        if self.block.count(self.placeholder) != grid * (grid + 1):
            raise CheckpointError(
                f"{path}: its processor lays out "
                f"{self.block.count(self.placeholder)} image tokens, its VQ-VAE {grid}x{grid} "
                "codes and their row ends"
            )
        self.header = self.block[: self.block.index(self.placeholder)]
        self.grid = grid
        self._text: dict[str, list[int]] = {}

    def text(self, s: str) -> list[int]:
        if s not in self._text:
            self._text[s] = self.tokenizer(s, add_special_tokens=False)["input_ids"]
        return self._text[s]

    def rows(self, codes: np.ndarray) -> list[int]:
        """The visual tokens of codes [grid * grid], each row closed by the end-of-row token."""
        grid = torch.as_tensor(codes).view(self.grid, self.grid)
        ids = torch.cat([self.visual[grid], torch.full((self.grid, 1), self.eol)], dim=1)
        return ids.flatten().tolist()

    def image(self, codes: np.ndarray) -> tuple[list[int], list[int]]:
        fill = iter(self.rows(codes))
        ids = [next(fill) if t == self.placeholder else t for t in self.block]
        roles = [ROLE_IMAGE if t == self.placeholder else ROLE_SPECIAL for t in self.block]
        for k, t in enumerate(ids):  # the end-of-row tokens among the placeholders
            if t == self.eol:
                roles[k] = ROLE_SPECIAL
        return ids, roles

    def _opening(self, codes) -> tuple[list[int], list[int]]:
        img, img_roles = self.image(codes)
        user = self.text(USER)
        return [self.bos, *user, *img], [ROLE_SPECIAL] * (1 + len(user)) + img_roles

    def _target(self, codes) -> tuple[list[int], list[int]]:
        tail = self.block[len(self.block) - 2 :]  # <eof> <|image end|>
        ids = self.rows(codes) + tail if codes is not None else []
        return ids, [ROLE_GENERATED] * len(ids)

    def _add(self, ids, roles, text: str, role: int) -> None:
        t = self.text(text)
        ids += t
        roles += [role] * len(t)

    def dialogue(self, codes, turns: list[tuple[str, str]]) -> Item:
        ids, roles = self._opening(codes)
        n_prefix = None
        for k, (question, answer) in enumerate(turns):
            if k:
                self._add(ids, roles, NEXT_USER, ROLE_SPECIAL)
            self._add(ids, roles, question, ROLE_TEXT)
            self._add(ids, roles, CUE, ROLE_TASK)
            n_prefix = n_prefix or len(ids)
            self._add(ids, roles, " " + answer, ROLE_ANSWER)
        return Item(ids, roles, n_prefix, None, "understanding")

    def caption(self, codes, text: str) -> Item:
        ids, roles = self._opening(codes)
        self._add(ids, roles, DESCRIBE, ROLE_TASK)
        self._add(ids, roles, CUE, ROLE_TASK)
        n_prefix = len(ids)
        self._add(ids, roles, " " + text, ROLE_ANSWER)
        return Item(ids, roles, n_prefix, None, "caption")

    def generation(self, prompt: str, target) -> Item:
        ids, roles = [self.bos], [ROLE_SPECIAL]
        self._add(ids, roles, prompt, ROLE_TEXT)
        ids += self.header
        roles += [ROLE_SPECIAL] * len(self.header)
        t_ids, t_roles = self._target(target)
        return Item(ids + t_ids, roles + t_roles, len(ids), None, "generation")

    def proxy(self, proxy: str, codes, target) -> Item:
        ids, roles = self._opening(codes)
        self._add(ids, roles, INSTRUCTIONS[proxy], ROLE_TASK)
        self._add(ids, roles, CUE, ROLE_TASK)
        ids += self.header
        roles += [ROLE_SPECIAL] * len(self.header)
        t_ids, t_roles = self._target(target)
        return Item(ids + t_ids, roles + t_roles, len(ids), None, proxy)


class Emu3TaskData(TaskData):
    """TaskData's scenes, proxy renders and one-call encoding, with Emu3's image tokens
    (`Emu3Images`) and prompt layout (`Emu3Layout`) in place of our VQ tokenizer and
    vocabulary."""

    def __init__(self, world, images: Emu3Images, layout: Emu3Layout, indices, proxies=()):
        grid = ImageGrid(images.grid, world.image_size // images.grid)
        super().__init__(world, images, layout, grid, indices, proxies)

    def understanding(self, i: int, q: int) -> Item:
        qa = self.scenes[i].questions[q]
        return self.vocab.dialogue(self.codes[i], [(qa.question, qa.answer)])

    def dialogue(self, i: int, order) -> Item:
        qs = self.scenes[i].questions
        return self.vocab.dialogue(self.codes[i], [(qs[q].question, qs[q].answer) for q in order])

    def caption(self, i: int) -> Item:
        text = caption(self.scenes[i].objects, self.world.colors, self.world.image_size)
        return self.vocab.caption(self.codes[i], text)

    def generation(self, i: int, with_target: bool = True, unconditional: bool = False) -> Item:
        target = self.codes[i] if with_target else None
        return self.vocab.generation("" if unconditional else self.scenes[i].prompt.text, target)

    def proxy(self, proxy: str, i: int, with_target: bool = True) -> Item:
        codes, _ = self.proxy_input[proxy]
        target = self.proxy_target[proxy][i] if with_target else None
        return self.vocab.proxy(proxy, codes[i], target)
