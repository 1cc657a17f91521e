"""`ModelSource`: what the compare suites, the evals and the tuning of a Hugging Face model need
from a model, whatever its architecture (docs/design.md §3).

Implementations: `CheckpointSource` (an sgt-probe `.pt` checkpoint) and, over one base
(`hf.HFSource`), Hugging Face directories of `Emu3ForConditionalGeneration` (`Emu3Source`),
`JanusForConditionalGeneration` (`JanusSource`) and `ChameleonForConditionalGeneration`
(`ChameleonSource`). Everything above this protocol reads positions by token role and images
through `grid`, so knockouts, grounded precision, probes and CKA need nothing model-specific.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from sgt_probe.capture.bridge import HookedRunner, ImageGrid
from sgt_probe.data.spec import DataSpec
from sgt_probe.model.generate import Forward
from sgt_probe.model.sequences import Item


@runtime_checkable
class ModelSource(Protocol):
    path: Path  # the .pt file or the model directory
    spec: DataSpec  # the scene world its items come from
    stage: str | None  # "base", "tune", or None for a model this project did not make
    proxy: str | None  # the proxy it was tuned with
    seed: int | None
    step: int  # training steps this project ran on it
    recipe: str | None  # the tuning recipe this project tuned it with
    settings: dict  # training-config fields its tuning set over the recipe's
    kind: str  # the architecture, as the report's ModelInfo.preset says it (tiny, emu3, janus...)
    n_layers: int
    n_heads: int
    d_model: int
    grid: ImageGrid  # its image tokens over the world's images
    tokens: object  # equal for two sources that turn the same scene into the same tokens
    judge_tokenizer: object | None  # a VQ tokenizer whose round trip the judge also learns
    # trained on prompt-less generation items too (prompt dropout), so classifier-free guidance
    # has an unconditional stream to contrast the prompt with
    guidable: bool

    def world(self): ...

    def task_data(self, world, indices, proxies=()):
        """The scenes rendered and tokenized: a `tuning.taskdata.TaskData` (scenes, codes
        [N, P], and the understanding / dialogue / caption / generation / proxy items)."""

    def answer_probs(self, items: list[Item], choices: list, forward: Forward | None = None
                     ) -> tuple[np.ndarray, list[np.ndarray]]:  # fmt: skip
        """p(answer) [N] and p(each choice) per item; `forward(batch) -> logits` (a hooked
        pass, for knockouts) replaces the plain forward."""

    def generate_codes(self, items: list[Item], temperature: float = 0.0,
                       unconditional: list[Item] | None = None, guidance: float = 1.0,
                       ) -> np.ndarray:  # fmt: skip
        """int64 [N, P] image codes drawn after each item's prefix, row-major over `grid`:
        greedy at temperature 0, else sampled from per-item seeded draws; with `unconditional`
        (each item without its prompt), by classifier-free guidance at scale `guidance`
        (`model.generate.sample_image_tokens`)."""

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """uint8 [N, S, S, 3] pixels of codes [N, P], S the world's image size."""

    def token_texts(self, ids: list[int]) -> list[str]:
        """The text of each token id, for labels (the attention explorer's tokens)."""

    def runner(self) -> HookedRunner:
        """The model wrapped for hooked forward passes. Booting the bridge changes the model's
        modules, so everything that generates runs before the first call."""
