"""Wrap a model in TransformerLens 4.x `TransformerBridge`, sharing its weights.

The bridge gives analysis code one set of hook names for any supported decoder:
`hook_embed`, `blocks.{L}.hook_resid_post`, `blocks.{L}.attn.hook_pattern` [batch, head,
query, key] and `blocks.{L}.attn.hook_attn_scores` (pre-softmax, used for knockouts).
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from unittest import mock

import torch

from sgt_probe.model.sequences import ROLE_IMAGE, collate

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge
    from transformer_lens.model_bridge.generalized_components.normalization import (
        NormalizationBridge,
    )


def resid_name(layer: int) -> str:
    return f"blocks.{layer}.hook_resid_post"


def pattern_name(layer: int) -> str:
    return f"blocks.{layer}.attn.hook_pattern"


def scores_name(layer: int) -> str:
    return f"blocks.{layer}.attn.hook_attn_scores"


def _no_processor(*args, **kwargs) -> None:
    """Stands in for TransformerLens' `load_modality_processor` while booting (see `boot`)."""


def boot(hf_model, tokenizer, name: str = "sgt-probe") -> TransformerBridge:
    """`boot_transformers` over an in-memory HF model (no download): shared weights.

    For a multimodal architecture (Emu3 and the like) TransformerLens then loads the model's
    processor by `name` and, when that fails, runs `pip install torchvision` into the running
    environment, which pulls a CUDA build of torch onto a CPU machine
    (transformer_lens/model_bridge/sources/transformers/helpers.py, `_ensure_torchvision`).
    Nothing here feeds images through the bridge's processor (a model source tokenizes images
    itself: image positions hold code ids or injected patch embeddings), so that step is skipped
    while booting; `mock.patch.object` fails loudly should a TransformerLens release rename it.
    """
    # TransformerLens is imported here, when a bridge is first booted: importing it takes
    # seconds, which every command and worker that never captures would otherwise pay
    from transformer_lens.model_bridge import TransformerBridge
    from transformer_lens.model_bridge.sources.transformers import source as hf_source

    from sgt_probe.capture.adapters import register as register_adapters

    register_adapters()  # Janus and Chameleon, which TransformerLens does not adapt itself
    with mock.patch.object(hf_source, "load_modality_processor", _no_processor):
        bridge = TransformerBridge.boot_transformers(name, hf_model=hf_model, tokenizer=tokenizer)
    quiet_unhooked_norms(bridge)
    return bridge


def quiet_unhooked_norms(bridge: TransformerBridge) -> int:
    """Let every norm whose inner hooks nobody holds run as the model's own norm does.

    On the native-autograd path TransformerLens computes each norm twice: its statistics for
    `hook_scale` and `hook_normalized`, then the model's own norm, whose output it returns when
    those hooks edit nothing. With no hook on either, the statistics are computed for nobody
    (2 of them per block and a final one: a tenth of a tiny model's hooked forward); here they
    are skipped and the output is the model's own norm, as before, bit for bit. A hook added on
    either later (TransformerLens' `hooks`, `run_with_cache`) takes the full path again.
    Returns how many norms were set so.
    """
    from transformer_lens.model_bridge.generalized_components.normalization import (
        NormalizationBridge,
    )

    n = 0
    for module in bridge.modules():
        if isinstance(module, NormalizationBridge) and module.use_native_layernorm_autograd:
            module._hf_autograd_forward_with_hooks = _skip_unread_stats(module)
            n += 1
    return n


def _skip_unread_stats(norm: NormalizationBridge):
    full = norm._hf_autograd_forward_with_hooks  # the bound method of TransformerLens

    def forward(x: torch.Tensor) -> torch.Tensor:
        inner = (norm.hook_scale, norm.hook_normalized)
        if any(h.fwd_hooks or h.bwd_hooks for h in inner) or norm.original_component is None:
            return full(x)
        if isinstance(norm.original_component, torch.nn.Identity):
            return x
        out = norm.original_component(x)
        return out if out.dtype == x.dtype else out.to(x.dtype)

    return forward


def boot_loaded(loaded) -> TransformerBridge:
    """A bridge over a twin of a checkpoint's `UnifiedModel.lm` (`weight_sharing_twin`), with
    its word-level tokenizer: the checkpoint's own model stays a plain HF model, so its KV-cached
    passes (answer scoring, decoding, knockouts) stay right after capture has booted a bridge.

    The tokenizer must come from disk (an in-memory one fails with KeyError 'name_or_path').
    """
    with tempfile.TemporaryDirectory() as d:  # booting reads files beside the tokenizer
        tok = loaded.vocab.save_hf_tokenizer(d)
        return boot(
            weight_sharing_twin(loaded.model.lm), tok, name=f"sgt-probe-{loaded.cfg.preset}"
        )


def weight_sharing_twin(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of `module` whose submodules are its own but whose parameters and buffers are the
    very tensors of `module`: booting a bridge swaps the twin's attention modules for its
    components and leaves the original's alone, while the weights stay shared (no second copy in
    memory; an edit of one is an edit of the other)."""
    memo = {id(t): t for t in [*module.parameters(), *module.buffers()]}
    return copy.deepcopy(module, memo)


HookFn = Callable[[torch.Tensor, object], torch.Tensor | None]


@dataclass(frozen=True)
class ImageGrid:
    """Where a model's image tokens fall on the world's images: `grid` x `grid` tokens in
    row-major order, each over `patch_size` x `patch_size` world pixels, so patch labels and
    object masks are the world's maps pooled to that grid. `patch_dim` is the number of floats
    per image position a batch carries (pixels for a patch encoder; 0 when images are token
    ids)."""

    grid: int
    patch_size: int
    patch_dim: int = 0

    @property
    def n_patches(self) -> int:
        return self.grid * self.grid


class HookedRunner:
    """Runs batches through a bridge, with input embeddings injected when the model needs them.

    `run(batch, names)` returns (logits, {hook name: tensor}) caching only `names`
    (TransformerLens' names_filter); `extra_hooks` are temporary (removed after the pass).
    `grid` shapes the batches; `embed(batch)`, when given, makes the input embeddings that
    replace the token embeddings (a patch encoder's output at image positions).
    """

    def __init__(self, bridge: TransformerBridge, grid: ImageGrid,
                 embed: Callable[[dict], torch.Tensor] | None = None, device=None):  # fmt: skip
        self.bridge = bridge
        self.grid = grid
        self.embed = embed
        self.device = torch.device(device or next(bridge.parameters()).device)
        self.n_layers = bridge.cfg.n_layers
        self.n_heads = bridge.cfg.n_heads

    def batches(self, items: list, batch_size: int):
        """(start, items, batch on the device) for consecutive chunks of `items`."""
        for s in range(0, len(items), batch_size):
            chunk = items[s : s + batch_size]
            batch = collate(chunk, self.grid.n_patches, self.grid.patch_dim)
            yield s, chunk, {k: v.to(self.device) for k, v in batch.items()}

    def _token_ids(self, batch: dict) -> torch.Tensor:
        """The token ids the bridge's embedding reads (a runner whose model embeds some
        positions otherwise overrides it)."""
        return batch["input_ids"]

    def _embeds(self, batch: dict) -> bool:
        """Whether this batch needs `embed`: here, when it holds an input image."""
        return self.embed is not None and bool((batch["roles"] == ROLE_IMAGE).any())

    def _inject(self, batch: dict) -> list[tuple[str, HookFn]]:
        if not self._embeds(batch):
            return []
        emb = self.embed(batch)

        def hook(x: torch.Tensor, hook) -> torch.Tensor:
            return emb.to(x.dtype)

        return [("hook_embed", hook)]

    @torch.no_grad()
    def run(
        self, batch: dict, names: Iterable[str] = (), extra_hooks: Iterable = ()
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        wanted = set(names)
        hooks = self._inject(batch) + list(extra_hooks)
        with self.bridge.hooks(fwd_hooks=hooks):
            ids = self._token_ids(batch)
            if not wanted:
                return self.bridge(ids), {}
            logits, cache = self.bridge.run_with_cache(ids, names_filter=lambda n: n in wanted)
        return logits, {k: cache[k] for k in wanted}

    @torch.no_grad()
    def each_pattern(self, batch: dict, reduce: Callable[[int, torch.Tensor], None]) -> None:
        """Call `reduce(layer, pattern)` on each layer's attention pattern [B, H, Q, K] as the
        forward produces it, keeping none of them: peak memory holds about one layer's pattern
        (with the attention's own transients), not every layer's (docs/design.md §5).

        The forward stops after the last layer's pattern, since nothing after it (that layer's
        MLP, the logits: at Emu3-8B's vocabulary 1.5 GB a sample) is read.
        """
        last = self.n_layers - 1

        def hook_for(layer: int) -> HookFn:
            def hook(pattern: torch.Tensor, hook) -> None:
                reduce(layer, pattern)
                if layer == last:
                    raise _PatternsDone

            return hook

        hooks = [(pattern_name(layer), hook_for(layer)) for layer in range(self.n_layers)]
        try:
            self.run(batch, (), extra_hooks=hooks)
        except _PatternsDone:
            pass


class _PatternsDone(Exception):
    """Raised by the last layer's pattern hook in `HookedRunner.each_pattern`."""
