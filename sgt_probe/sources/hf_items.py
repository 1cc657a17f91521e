"""Scenes as a Hugging Face unified model's sequences: images through the model's own processor
and image tokenizer, prompts in its chat and generation layouts, every position tagged with its
role (docs/design.md §3, docs/models.md).

What the architectures share is here; each supplies what differs (`emu3_items`, `janus`,
`chameleon`): its `ProcessorImages` (how the processor and VQ model turn pixels into codes and
back) and a `Layout` built from its processor's image block and its `Prompts`:

    understanding: <bos> USER IMAGE AFTER question CUE                   -> answer
    dialogue:      <bos> USER IMAGE AFTER q1 CUE -> a1  NEXT q2 CUE -> a2 ...
    caption:       <bos> USER IMAGE AFTER describe the image CUE       -> caption
    generation:    <bos> GEN_USER prompt GEN_CUE HEADER                -> image tokens TAIL
    proxy:         <bos> USER IMAGE AFTER draw the ... CUE HEADER      -> image tokens TAIL

IMAGE is the block the processor lays out for an image (`boi`, the placeholders, `eoi`), with the
placeholders filled as the model fills them: by the VQ codes' tokens (Emu3, Chameleon) or left in
place for the vision encoder's features (Janus, whose items carry the processed pixels). HEADER
is the block's opening, TAIL what follows its placeholders. Roles: image positions are image, the
question words text, the answer cue and a proxy's instruction task tokens, everything the model
draws generated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

DESCRIBE = "describe the image"
INSTRUCTIONS = {
    "segmentation": "draw the segmentation map",
    "depth": "draw the depth map",
    "edge": "draw the edges",
    "reconstruction": "draw the image again",
    "inpainting": "draw the image with its gray patches filled in",
}


@dataclass(frozen=True)
class Prompts:
    """The text around an item's parts, in one architecture's chat layout."""

    user: str  # before the image of an understanding, caption or proxy item
    cue: str  # the answer cue: what precedes an answer (and a drawn image)
    next_user: str  # before each dialogue question after the first
    after_image: str = ""  # between the image block and the question
    gen_user: str = ""  # before a generation prompt
    gen_cue: str = ""  # between a generation prompt and the image header
    special: tuple[str, ...] = field(default=())  # special tokens among the texts above

    def texts(self) -> list[str]:
        """Every text an item adds, for a stand-in tokenizer's corpus."""
        return [self.user, self.cue, self.next_user, self.after_image, self.gen_user,
                self.gen_cue, DESCRIBE, *INSTRUCTIONS.values()]  # fmt: skip


class ProcessorImages:
    """A model's image tokenizer, both ways, batched: its processor (resize, normalize) and its
    VQ model. `side` is the processor's output side for a world image, `factor` the VQ model's
    downsampling; `grid` the token grid, which must divide the world's image side so that every
    token covers whole world pixels (patch labels and object masks pool to it exactly).

    Subclasses supply `_preprocess(images) -> pixel tensor`, `_encode(pixels) -> codes [n, P]`,
    `_decode(codes) -> pixel tensor` and `_postprocess(pixels) -> PIL images`; `pixels` is what
    an item carries of its image beside the codes (none, unless the model reads pixels)."""

    patch_dim = 0  # floats per image position an item carries (ImageGrid.patch_dim)

    def __init__(self, vq, image_size: int, side: int, factor: int, path, batch_size: int = 32):
        self.vq, self.image_size, self.batch_size = vq, image_size, batch_size
        if side % factor:
            raise CheckpointError(
                f"{path}: its processor resizes a {image_size}-pixel square image to {side}x{side}, "
                f"not a multiple of the VQ model's {factor}"
            )
        self.grid = side // factor
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

    def _chunks(self, array):
        for s in range(0, len(array), self.batch_size):
            yield array[s : s + self.batch_size]

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, S, S, 3] -> int64 [N, grid * grid] VQ codes, row-major."""
        out = [self._encode(self._preprocess(list(chunk))).cpu() for chunk in self._chunks(images)]
        return torch.cat(out).numpy().astype(np.int64)

    @torch.no_grad()
    def decode(self, codes: np.ndarray) -> np.ndarray:
        """int64 [N, grid * grid] -> uint8 [N, S, S, 3]: the VQ model's pixels through the
        processor's postprocessing, area-resampled to the world's image size."""
        size = (self.image_size, self.image_size)
        out = []
        for chunk in self._chunks(codes):
            pixels = self._decode(torch.as_tensor(chunk, device=self.device))
            out += [np.asarray(im.convert("RGB").resize(size, Image.Resampling.BOX))
                    for im in self._postprocess(pixels.float().cpu())]  # fmt: skip
        return np.stack(out)

    def pixels(self, images: np.ndarray) -> np.ndarray | None:
        """What an item carries of each image besides its codes: None (the codes are all)."""
        return None


class PixelValueImages(ProcessorImages):
    """Images through a processor that returns `pixel_values` (its `ip`) and a VQ model whose
    `encode` returns one row of `image_tokens` per image: Janus's and Chameleon's."""

    def _preprocess(self, images):
        return self.ip(images=images, return_tensors="pt")["pixel_values"]

    def _encode(self, pixels):
        tokens = self.vq.encode(pixels.to(self.device, self.vq.dtype)).image_tokens
        return tokens.view(len(pixels), -1)


class Layout:
    """Token ids and roles of one architecture's prompts (see the module docstring).

    `block` is the processor's image block for a world image and `placeholder` the id it fills;
    `visual[code]` is the token id the model reads and draws for a VQ code, and `input_visual`
    the one an input image's placeholders become (None: they stay placeholders, the vision
    encoder's features replace them). With `eol`, every row of `grid` codes is closed by that
    token (Emu3). `tail` follows a drawn image's codes.
    """

    def __init__(self, tokenizer, prompts: Prompts, block: list[int], placeholder: int,
                 grid: int, visual: torch.Tensor, input_visual: torch.Tensor | None,
                 eol: int | None = None, tail: list[int] | None = None):  # fmt: skip
        self.tokenizer, self.prompts = tokenizer, prompts
        self.bos = tokenizer.bos_token_id
        self.block, self.placeholder, self.grid = list(block), placeholder, grid
        self.visual, self.input_visual, self.eol = visual.long(), input_visual, eol
        first = self.block.index(placeholder)
        last = len(self.block) - 1 - self.block[::-1].index(placeholder)
        self.header = self.block[:first]
        self.tail = self.block[last + 1 :] if tail is None else list(tail)
        self._text: dict[str, list[int]] = {}

    def text(self, s: str) -> list[int]:
        if s not in self._text:
            self._text[s] = self.tokenizer(s, add_special_tokens=False)["input_ids"] if s else []
        return self._text[s]

    def rows(self, codes: np.ndarray, mapping: torch.Tensor | None = None) -> list[int]:
        """The tokens of codes [grid * grid] (`mapping`, default `visual`), each row closed by
        the end-of-row token when the model writes one."""
        ids = (self.visual if mapping is None else mapping)[torch.as_tensor(codes)]
        if self.eol is None:
            return ids.tolist()
        grid = ids.view(self.grid, self.grid)
        return torch.cat([grid, torch.full((self.grid, 1), self.eol)], dim=1).flatten().tolist()

    def image(self, codes: np.ndarray) -> tuple[list[int], list[int]]:
        """The image block of an input image: ids and roles."""
        is_image = [t == self.placeholder for t in self.block]
        if self.input_visual is None:
            ids = list(self.block)
        else:
            fill = iter(self.rows(codes, self.input_visual))
            ids = [next(fill) if image else t for t, image in zip(self.block, is_image,
                                                                   strict=True)]  # fmt: skip
        roles = [ROLE_IMAGE if image and t != self.eol else ROLE_SPECIAL
                 for t, image in zip(ids, is_image, strict=True)]  # fmt: skip
        return ids, roles

    def _opening(self, codes) -> tuple[list[int], list[int]]:
        img, img_roles = self.image(codes)
        user = self.text(self.prompts.user)
        after = self.text(self.prompts.after_image)
        ids = [self.bos, *user, *img, *after]
        return ids, [ROLE_SPECIAL] * (1 + len(user)) + img_roles + [ROLE_SPECIAL] * len(after)

    def _target(self, codes) -> tuple[list[int], list[int]]:
        ids = self.rows(codes) + self.tail if codes is not None else []
        return ids, [ROLE_GENERATED] * len(ids)

    def _add(self, ids, roles, text: str, role: int) -> None:
        t = self.text(text)
        ids += t
        roles += [role] * len(t)

    def dialogue(self, codes, turns: list[tuple[str, str]], pixels=None) -> Item:
        ids, roles = self._opening(codes)
        n_prefix = None
        for k, (question, answer) in enumerate(turns):
            if k:
                self._add(ids, roles, self.prompts.next_user, ROLE_SPECIAL)
            self._add(ids, roles, question, ROLE_TEXT)
            self._add(ids, roles, self.prompts.cue, ROLE_TASK)
            n_prefix = n_prefix or len(ids)
            self._add(ids, roles, " " + answer, ROLE_ANSWER)
        return Item(ids, roles, n_prefix, pixels, "understanding")

    def caption(self, codes, text: str, pixels=None) -> Item:
        ids, roles = self._opening(codes)
        self._add(ids, roles, DESCRIBE, ROLE_TASK)
        self._add(ids, roles, self.prompts.cue, ROLE_TASK)
        n_prefix = len(ids)
        self._add(ids, roles, " " + text, ROLE_ANSWER)
        return Item(ids, roles, n_prefix, pixels, "caption")

    def generation(self, prompt: str, target) -> Item:
        ids, roles = [self.bos], [ROLE_SPECIAL]
        self._add(ids, roles, self.prompts.gen_user, ROLE_SPECIAL)
        self._add(ids, roles, prompt, ROLE_TEXT)
        self._add(ids, roles, self.prompts.gen_cue, ROLE_TASK)
        ids += self.header
        roles += [ROLE_SPECIAL] * len(self.header)
        t_ids, t_roles = self._target(target)
        return Item(ids + t_ids, roles + t_roles, len(ids), None, "generation")

    def proxy(self, proxy: str, codes, target, pixels=None) -> Item:
        ids, roles = self._opening(codes)
        self._add(ids, roles, INSTRUCTIONS[proxy], ROLE_TASK)
        self._add(ids, roles, self.prompts.cue, ROLE_TASK)
        ids += self.header
        roles += [ROLE_SPECIAL] * len(self.header)
        t_ids, t_roles = self._target(target)
        return Item(ids + t_ids, roles + t_roles, len(ids), pixels, proxy)


class HFTaskData(TaskData):
    """TaskData's scenes, proxy renders and one-call encoding, with a model's image tokens
    (`ProcessorImages`) and prompt layout (`Layout`) in place of our VQ tokenizer and vocabulary;
    items carry the processed pixels when the model reads them (`ProcessorImages.pixels`)."""

    def __init__(self, world, images: ProcessorImages, layout: Layout, indices, proxies=()):
        grid = ImageGrid(images.grid, world.image_size // images.grid, images.patch_dim)
        self.images = images
        super().__init__(world, images, layout, grid, indices, proxies)

    def image_pixels(self, images: np.ndarray) -> np.ndarray | None:
        return self.images.pixels(images)

    def _pixels(self, i: int, proxy: str | None = None):
        pixels = self.pixels if proxy is None else self.proxy_input[proxy][1]
        return None if pixels is None else pixels[i]

    def understanding(self, i: int, q: int) -> Item:
        qa = self.scenes[i].questions[q]
        return self.vocab.dialogue(self.codes[i], [(qa.question, qa.answer)], self._pixels(i))

    def dialogue(self, i: int, order) -> Item:
        qs = self.scenes[i].questions
        return self.vocab.dialogue(self.codes[i], [(qs[q].question, qs[q].answer) for q in order],
                                   self._pixels(i))  # fmt: skip

    def caption(self, i: int) -> Item:
        text = caption(self.scenes[i].objects, self.world.colors, self.world.image_size)
        return self.vocab.caption(self.codes[i], text, self._pixels(i))

    def generation(self, i: int, with_target: bool = True, unconditional: bool = False) -> Item:
        target = self.codes[i] if with_target else None
        return self.vocab.generation("" if unconditional else self.scenes[i].prompt.text, target)

    def proxy(self, proxy: str, i: int, with_target: bool = True) -> Item:
        codes, _ = self.proxy_input[proxy]
        target = self.proxy_target[proxy][i] if with_target else None
        return self.vocab.proxy(proxy, codes[i], target, self._pixels(i, proxy))
