"""A Hugging Face unified-model directory behind the `ModelSource` protocol: what Emu3, Janus and
Chameleon share (docs/models.md).

The directory is read with `from_pretrained(local_dir)` only (never the hub): weights, config,
processor and tokenizer. Scenes are tokenized by the model's own processor and image tokenizer
(`hf_items`); multiple-choice understanding scores each choice's log-probability; generation
draws image tokens and decodes them as the model does. On CUDA the weights load in bfloat16.

An architecture is a subclass (`emu3.Emu3Source`, `janus.JanusSource`,
`chameleon.ChameleonSource`) that names its classes and supplies what differs: its images and
layout, the logits it scores with, the first and next steps of drawing, and, for tuning, the
logits it trains on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from safetensors import SafetensorError
from transformers.utils import logging as hf_logging

from sgt_probe.capture.bridge import HookedRunner, ImageGrid, boot
from sgt_probe.checkpoint import CheckpointError
from sgt_probe.data import make_world
from sgt_probe.data.spec import DataSpec
from sgt_probe.model.generate import answer_span, continuation_logprobs, sample_image_tokens
from sgt_probe.model.limits import first_nonfinite
from sgt_probe.sources.hf_items import HFTaskData, Layout, ProcessorImages
from sgt_probe.sources.hfdir import check_model_dir, read_sidecar

# Sequences per forward when scoring choices: one holds T x V logits (V ~ 184k for Emu3-8B,
# 3 GB in bfloat16 at 4k tokens), so keep it small.
SCORE_BATCH = 8
GENERATE_BATCH = 8


def model_dtype(device: str | torch.device) -> torch.dtype:
    """bfloat16 on CUDA (an 8B model in float32 alone fills 34 GB), float32 on the CPU."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32


@contextmanager
def quiet() -> Iterator[None]:
    """No progress bars from transformers while reading or writing a directory: they would
    bury a command's own output (and a one-line error) on stderr."""
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


class HFSource:
    kind: ClassVar[str]  # ModelInfo.preset of a report on it
    model_class: ClassVar[type]
    processor_class: ClassVar[type]
    # peft's target_modules: the decoder's attention projections (sources/tuning.py)
    lora_targets: ClassVar[str]
    judge_tokenizer = None  # the judge learns from crisp renders: no VQ round trip to fit
    guidable = False  # our tuning of it drops no prompts

    def __init__(self, path: str | Path, spec: DataSpec, device: str = "cpu", model=None,
                 processor=None):  # fmt: skip
        """Open `path` (checked first) for the world `spec`; `model` and `processor` given
        skip loading (tuning hands in the model it trains)."""
        self.path = check_model_dir(path)
        meta = read_sidecar(self.path)
        self.spec = spec
        self.stage, self.proxy = meta.get("stage"), meta.get("proxy")
        self.seed, self.step = meta.get("seed"), meta.get("step", 0)
        self.recipe, self.settings = meta.get("recipe"), {}
        if model is None:
            model, processor = self.load(self.path, device)
        self.model, self.processor = model, processor
        text = self.text_config(model.config)
        self.n_layers, self.n_heads = text.num_hidden_layers, text.num_attention_heads
        self.d_model = text.hidden_size
        self.images = self.make_images(spec.image_size)
        self.layout = self.make_layout()
        self.grid = ImageGrid(self.images.grid, spec.image_size // self.images.grid,
                              self.images.patch_dim)  # fmt: skip
        self._runner: HookedRunner | None = None
        self._choices: dict[str, list[int]] = {}

    # ---- what an architecture supplies ----

    @staticmethod
    def text_config(config):
        """The decoder's config (a composite model nests it)."""
        return config.text_config

    @classmethod
    def frozen(cls, model) -> list[torch.nn.Module]:
        """The modules tuning leaves alone and keeps in eval mode (the image tokenizer)."""
        return [model.model.vqmodel]

    @classmethod
    def extra_files(cls) -> tuple[str, ...]:
        """Files of the directory beside config, weights and processor that a tuning copies."""
        return ()

    def make_images(self, image_size: int) -> ProcessorImages:
        raise NotImplementedError

    def make_layout(self) -> Layout:
        raise NotImplementedError

    def logits(self, batch: dict) -> torch.Tensor:
        """[B, T, V] logits of a batch, as the model's own forward gives them."""
        return self.model(input_ids=batch["input_ids"]).logits

    @staticmethod
    def train_logits(model, input_ids: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        """The logits tuning trains on, targets being ids in `Layout` terms."""
        return model(input_ids=input_ids).logits

    def draw_start(self, batch: dict):
        """(logits over `layout.visual` [b, K] or the vocabulary [b, V], cache) at the last
        prefix position (the prefix's last logits only: a proxy's prefix holds an image)."""
        raise NotImplementedError

    def draw_step(self, ids: torch.Tensor, past):
        """The same after feeding one drawn token each (`layout.visual[code]`)."""
        raise NotImplementedError

    def draw_tokens(self) -> torch.Tensor:
        """What `sample_image_tokens` restricts logits to and feeds back: the drawn tokens."""
        return self.layout.visual

    def hooked_runner(self, bridge) -> HookedRunner:
        return HookedRunner(bridge, self.grid)

    # ---- shared ----

    @classmethod
    def load(cls, path: Path, device):
        """(model, processor) from a checked directory; a load that fails, or weights that are
        not all finite, are one line naming it.

        The model attends with sdpa, which never holds a T x T attention matrix (at Emu3-8B's
        4k tokens, 2.2 GB per sample and layer in float32): scoring and drawing need none. The
        bridge reads patterns from eager attention, set when it boots (`runner`).
        """
        try:
            with quiet():
                model = cls.model_class.from_pretrained(path, dtype=model_dtype(device),
                                                        attn_implementation="sdpa")  # fmt: skip
                processor = cls.processor_class.from_pretrained(path)
        except (OSError, ValueError, KeyError, RuntimeError, TypeError, SafetensorError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise CheckpointError(f"{path}: cannot be loaded ({first})") from None
        bad = first_nonfinite(model.state_dict().items())
        if bad is not None:  # a model with them would score, or train, on garbage
            raise CheckpointError(f"{path}: weight {bad!r} holds non-finite values (inf or NaN)")
        return model.to(device).eval(), processor

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @cached_property
    def tokens(self) -> str:
        """A digest of what turns scenes into tokens: the tokenizer's vocabulary, the image
        processor's settings and the VQ model's weights (tuning leaves all three as they were)."""
        h = hashlib.sha1()
        h.update(json.dumps(sorted(self.processor.tokenizer.get_vocab().items())).encode())
        h.update(self.processor.image_processor.to_json_string().encode())
        for name, t in sorted(self.images.vq.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        return h.hexdigest()

    def world(self):
        return make_world(self.spec)

    def task_data(self, world, indices, proxies=()) -> HFTaskData:
        return HFTaskData(world, self.images, self.layout, indices, proxies)

    @property
    def patch_shape(self) -> tuple[int, int]:
        return self.grid.n_patches, self.grid.patch_dim

    def answer_probs(self, items, choices, forward=None):
        """p(answer) and p(choice): each choice is the text " choice" after the answer cue, its
        probability the product of its tokens' (continuation_logprobs)."""
        conts = [[self._choice(c) for c in ch] + [answer_span(it)]
                 for it, ch in zip(items, choices, strict=True)]  # fmt: skip
        logp = continuation_logprobs(items, conts, forward or self.logits, self.patch_shape,
                                     self.device, SCORE_BATCH)  # fmt: skip
        return np.exp([lp[-1] for lp in logp]), [np.exp(lp[:-1]) for lp in logp]

    def _choice(self, choice: str) -> list[int]:
        if choice not in self._choices:
            self._choices[choice] = self.layout.text(" " + choice)
        return self._choices[choice]

    @torch.no_grad()
    def generate_codes(self, items, temperature: float = 0.0, unconditional=None,
                       guidance: float = 1.0) -> np.ndarray:  # fmt: skip
        """Image tokens after each item's prefix, as the model draws them (`draw_start`,
        `draw_step`), every row followed by the end-of-row token where the model writes one."""
        if self._runner is not None:
            # booting swaps the model's attention for bridge components, which do not keep a
            # KV cache correctly (a cached step's logits drift by ~1): generate before it
            raise RuntimeError("generation after the bridge was booted; generate first")
        g, layout = self.grid, self.layout
        return sample_image_tokens(items, self.draw_start, self.draw_step, self.draw_tokens(),
                                   g.n_patches, self.patch_shape, self.device,
                                   row=g.grid if layout.eol is not None else 0, eol=layout.eol,
                                   batch_size=GENERATE_BATCH, temperature=temperature,
                                   unconditional=unconditional, guidance=guidance)  # fmt: skip

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return self.images.decode(codes)

    def token_texts(self, ids) -> list[str]:
        return [self.processor.tokenizer.decode([int(i)]) for i in ids]

    def runner(self) -> HookedRunner:
        if self._runner is None:
            self.model.set_attn_implementation("eager")  # the patterns the hooks read
            # the processor's tokenizer was read from disk, as booting offline needs
            bridge = boot(self.model, self.processor.tokenizer, name=str(self.path))
            self._runner = self.hooked_runner(bridge)
        return self._runner
