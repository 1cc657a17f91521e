"""Inference helpers: image generation (constrained to VQ codes) and answer scoring."""

from __future__ import annotations

import inspect
from collections import defaultdict

import numpy as np
import torch
from transformers import LlamaForCausalLM

from sgt_probe.model.sequences import Item, collate
from sgt_probe.model.unified import UnifiedModel
from sgt_probe.model.vocab import Vocab

# transformers renamed `past_key_values` to `cache` (5.2x); accept either release.
_CACHE_KW = (
    "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters
    else "past_key_values"
)  # fmt: skip


def _device(model: UnifiedModel) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def generate_codes(
    model: UnifiedModel, items: list[Item], vocab: Vocab, batch_size: int = 64,
    temperature: float = 0.0, top_k: int = 0, seed: int = 0,
) -> np.ndarray:  # fmt: skip
    """Decode P image codes after each item's prefix (items built without targets).

    temperature 0 is greedy; otherwise codes are sampled from softmax(logits / temperature),
    restricted to the `top_k` most likely codes when top_k > 0, from a generator seeded by
    `seed` and each item's position, so a result does not depend on batch size or order.
    Items are grouped by prefix length so every row of a batch shares positions and the KV cache
    needs no padding. Logits are restricted to the code block: the model is asked for an image.
    Returns int64 [N, P] codes in 0..K-1, in the order of `items`.
    """
    cfg, dev = model.cfg, _device(model)
    lo, hi = vocab.code_offset, vocab.code_offset + vocab.n_codes
    out = np.zeros((len(items), cfg.n_patches), dtype=np.int64)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[len(it.ids)].append(i)
    embed_tokens = model.lm.get_input_embeddings()
    for idx in groups.values():
        for s in range(0, len(idx), batch_size):
            chunk = idx[s : s + batch_size]
            batch = collate([items[i] for i in chunk], cfg.n_patches, cfg.patch_size**2 * 3)
            emb = model.embed(batch["input_ids"].to(dev), batch["pixels"].to(dev))
            res = model.lm(inputs_embeds=emb, use_cache=True)
            past, logits = res.past_key_values, res.logits[:, -1]
            # uniforms [b, P] drawn per item: item i's draws never depend on its batch mates
            draws = torch.stack([
                torch.rand(cfg.n_patches, generator=torch.Generator().manual_seed(seed * 1_000_003 + i))
                for i in chunk]).to(dev)  # fmt: skip
            for p in range(cfg.n_patches):
                code = pick_codes(logits[:, lo:hi].float(), temperature, top_k, draws[:, p])
                out[chunk, p] = code.cpu().numpy()
                if p + 1 == cfg.n_patches:
                    break
                res = model.lm(
                    inputs_embeds=embed_tokens(code + lo)[:, None],
                    **{_CACHE_KW: past},
                    use_cache=True,
                )
                past, logits = res.past_key_values, res.logits[:, -1]
    return out


def pick_codes(logits: torch.Tensor, temperature: float, top_k: int, u: torch.Tensor):
    """[b, K] logits -> [b] codes: argmax, or inverse-CDF sampling with uniforms u [b]."""
    if temperature <= 0:
        return logits.argmax(-1)
    if top_k:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    cdf = (logits / temperature).softmax(-1).cumsum(-1)
    return (
        torch.searchsorted(cdf, (u * cdf[:, -1])[:, None])
        .squeeze(1)
        .clamp(max=logits.shape[-1] - 1)
    )


@torch.no_grad()
def answer_probs(
    model: UnifiedModel,
    items: list[Item],
    vocab: Vocab,
    choices: list[tuple[str, ...]],
    batch_size: int = 128,
    forward=None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Probability of each item's answer token and of each of its choices (full-vocab softmax).

    `forward(batch) -> logits` lets knockouts run the same scoring through a hooked model.
    Returns (p_answer [N], [p_choices per item]).
    """
    cfg, dev = model.cfg, _device(model)
    p_answer = np.zeros(len(items))
    p_choices: list[np.ndarray] = [None] * len(items)  # type: ignore[list-item]
    for s in range(0, len(items), batch_size):
        chunk = items[s : s + batch_size]
        batch = collate(chunk, cfg.n_patches, cfg.patch_size**2 * 3)
        batch = {k: v.to(dev) for k, v in batch.items()}
        if forward is None:
            logits = model(batch["input_ids"], batch["pixels"]).logits
        else:
            logits = forward(batch)
        pos = torch.tensor([it.n_prefix - 1 for it in chunk], device=dev)
        probs = logits[torch.arange(len(chunk), device=dev), pos].float().softmax(-1)  # [b, V]
        for j, it in enumerate(chunk):
            k = s + j
            p_answer[k] = probs[j, it.ids[it.n_prefix]].item()
            ids = [vocab[c] for c in choices[k]]
            p_choices[k] = probs[j, ids].cpu().numpy()
    return p_answer, p_choices
