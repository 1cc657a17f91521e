"""A Hugging Face `Emu3ForConditionalGeneration` directory behind the `ModelSource` protocol.

The directory is read with `from_pretrained(local_dir)` only (never the hub): weights, config,
processor and tokenizer. Scenes are tokenized by the model's own processor and VQ-VAE
(`emu3_items`); multiple-choice understanding scores each choice's log-probability; generation
draws visual tokens row by row and decodes them with the VQ-VAE. On CUDA the weights load in
bfloat16.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from transformers import Emu3ForConditionalGeneration, Emu3Processor
from transformers.utils import logging as hf_logging

from sgt_probe.capture.bridge import HookedRunner, ImageGrid, boot
from sgt_probe.checkpoint import CheckpointError
from sgt_probe.data import make_world
from sgt_probe.data.spec import DataSpec
from sgt_probe.model.generate import (
    CACHE_KW,
    answer_span,
    continuation_logprobs,
    sample_image_tokens,
)
from sgt_probe.model.limits import first_nonfinite
from sgt_probe.sources.emu3_items import Emu3Images, Emu3Layout, Emu3TaskData
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


def load_emu3(path: Path, device):
    """(model, processor) from a checked directory; a load that fails, or weights that are not
    all finite, are one line naming it.

    The model attends with sdpa, which never holds a T x T attention matrix (at Emu3-8B's 4k
    tokens, 2.2 GB per sample and layer in float32): scoring and drawing need none. The bridge
    reads patterns from eager attention, set when it boots (`Emu3Source.runner`).
    """
    try:
        with quiet():
            model = Emu3ForConditionalGeneration.from_pretrained(
                path, dtype=model_dtype(device), attn_implementation="sdpa"
            )
            processor = Emu3Processor.from_pretrained(path)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, SafetensorError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"{path}: cannot be loaded ({first})") from None
    bad = first_nonfinite(model.state_dict().items())
    if bad is not None:  # a model with them would score, or train, on garbage
        raise CheckpointError(f"{path}: weight {bad!r} holds non-finite values (inf or NaN)")
    return model.to(device).eval(), processor


class Emu3Source:
    kind = "emu3"
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
            model, processor = load_emu3(self.path, device)
        self.model, self.processor = model, processor
        text = model.config.text_config
        self.n_layers, self.n_heads = text.num_hidden_layers, text.num_attention_heads
        self.d_model = text.hidden_size
        self.images = Emu3Images(model, processor, spec.image_size, self.path)
        self.layout = Emu3Layout(model, processor, self.images, self.path)
        self.grid = ImageGrid(self.images.grid, spec.image_size // self.images.grid)
        self._runner: HookedRunner | None = None
        self._choices: dict[str, list[int]] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @cached_property
    def tokens(self) -> str:
        """A digest of what turns scenes into tokens: the tokenizer's vocabulary, the image
        processor's settings and the VQ-VAE's weights (tuning leaves all three as they were)."""
        h = hashlib.sha1()
        h.update(json.dumps(sorted(self.processor.tokenizer.get_vocab().items())).encode())
        h.update(self.processor.image_processor.to_json_string().encode())
        for name, t in sorted(self.images.vq.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        return h.hexdigest()

    def world(self):
        return make_world(self.spec)

    def task_data(self, world, indices, proxies=()) -> Emu3TaskData:
        return Emu3TaskData(world, self.images, self.layout, indices, proxies)

    def _forward(self, batch: dict) -> torch.Tensor:
        return self.model(input_ids=batch["input_ids"]).logits

    def answer_probs(self, items, choices, forward=None):
        """p(answer) and p(choice): each choice is the text " choice" after the answer cue, its
        probability the product of its tokens' (continuation_logprobs)."""
        conts = [[self._choice(c) for c in ch] + [answer_span(it)]
                 for it, ch in zip(items, choices, strict=True)]  # fmt: skip
        logp = continuation_logprobs(items, conts, forward or self._forward,
                                     (self.grid.n_patches, 0), self.device, SCORE_BATCH)  # fmt: skip
        return np.exp([lp[-1] for lp in logp]), [np.exp(lp[:-1]) for lp in logp]

    def _choice(self, choice: str) -> list[int]:
        if choice not in self._choices:
            self._choices[choice] = self.layout.text(" " + choice)
        return self._choices[choice]

    @torch.no_grad()
    def generate_codes(self, items, temperature: float = 0.0, unconditional=None,
                       guidance: float = 1.0) -> np.ndarray:  # fmt: skip
        """Visual tokens, row by row: every row of `grid` codes is followed by the end-of-row
        token the model reads (as Emu3 generates)."""
        if self._runner is not None:
            # booting swaps the model's attention for bridge components, which do not keep a
            # KV cache correctly (a cached step's logits drift by ~1): generate before it
            raise RuntimeError("generation after the bridge was booted; generate first")

        def start(batch):  # the prefix's last logits only: a proxy's prefix holds an image
            res = self.model(input_ids=batch["input_ids"], use_cache=True, logits_to_keep=1)
            return res.logits[:, -1], res.past_key_values

        def step(ids, past):
            res = self.model(input_ids=ids[:, None], **{CACHE_KW: past}, use_cache=True)
            return res.logits[:, -1], res.past_key_values

        g = self.grid
        return sample_image_tokens(items, start, step, self.layout.visual, g.n_patches,
                                   (g.n_patches, 0), self.device, row=g.grid,
                                   eol=self.layout.eol, batch_size=GENERATE_BATCH,
                                   temperature=temperature, unconditional=unconditional,
                                   guidance=guidance)  # fmt: skip

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return self.images.decode(codes)

    def token_texts(self, ids) -> list[str]:
        return [self.processor.tokenizer.decode([int(i)]) for i in ids]

    def runner(self) -> HookedRunner:
        if self._runner is None:
            self.model.set_attn_implementation("eager")  # the patterns the hooks read
            # the processor's tokenizer was read from disk, as booting offline needs
            bridge = boot(self.model, self.processor.tokenizer, name=str(self.path))
            self._runner = HookedRunner(bridge, self.grid)
        return self._runner
