"""Inference helpers: image generation (constrained to image tokens) and answer scoring.

The cores, `sample_image_tokens` and `continuation_logprobs`, know no model: they batch items,
call the model through the functions they are given, and read logits. `generate_codes` and
`answer_probs` run them on a `UnifiedModel`; a Hugging Face model source runs them on its own
model (sgt_probe.sources).
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import torch
from transformers import LlamaForCausalLM

from sgt_probe.model.sequences import ROLE_ANSWER, Item, collate
from sgt_probe.model.unified import UnifiedModel
from sgt_probe.model.vocab import Vocab

# transformers renamed `past_key_values` to `cache` (5.2x); accept either release.
CACHE_KW = (
    "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters
    else "past_key_values"
)  # fmt: skip

# start(batch) -> (last-position logits [b, V], cache); step(token ids [b], cache) -> the same
Start = Callable[[dict], tuple[torch.Tensor, object]]
Step = Callable[[torch.Tensor, object], tuple[torch.Tensor, object]]
# forward(batch) -> logits [B, T, V]
Forward = Callable[[dict], torch.Tensor]


def _device(model: UnifiedModel) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def sample_image_tokens(
    items: list[Item], start: Start, step: Step, token_ids: torch.Tensor, n_tokens: int,
    patch_shape: tuple[int, int], device, row: int = 0, eol: int | None = None,
    batch_size: int = 64, temperature: float = 0.0, top_k: int = 0, seed: int = 0,
) -> np.ndarray:  # fmt: skip
    """Draw `n_tokens` image tokens after each item's prefix (items built without targets).

    Logits are restricted to `token_ids` [K] (the model is asked for an image); with `row`, the
    model reads the end-of-row token `eol` after every `row` tokens, as a model that writes
    images row by row (Emu3) expects. temperature 0 is greedy; otherwise tokens are sampled from
    softmax(logits / temperature), restricted to the `top_k` most likely when top_k > 0, from a
    generator seeded by `seed` and each item's position, so a result does not depend on batch
    size or order. Items are grouped by prefix length so every row of a batch shares positions
    and the KV cache needs no padding. Returns int64 [N, n_tokens], indices into `token_ids`.
    """
    token_ids = token_ids.to(device)
    out = np.zeros((len(items), n_tokens), dtype=np.int64)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[len(it.ids)].append(i)
    for idx in groups.values():
        for s in range(0, len(idx), batch_size):
            chunk = idx[s : s + batch_size]
            batch = collate([items[i] for i in chunk], *patch_shape)
            logits, past = start({k: v.to(device) for k, v in batch.items()})
            # uniforms [b, n] drawn per item: item i's draws never depend on its batch mates
            draws = torch.stack([
                torch.rand(n_tokens, generator=torch.Generator().manual_seed(seed * 1_000_003 + i))
                for i in chunk]).to(device)  # fmt: skip
            for p in range(n_tokens):
                code = pick_codes(logits[:, token_ids].float(), temperature, top_k, draws[:, p])
                out[chunk, p] = code.cpu().numpy()
                if p + 1 == n_tokens:
                    break
                logits, past = step(token_ids[code], past)
                if row and (p + 1) % row == 0:
                    logits, past = step(torch.full_like(code, eol), past)
    return out


@torch.no_grad()
def generate_codes(
    model: UnifiedModel, items: list[Item], vocab: Vocab, batch_size: int = 64,
    temperature: float = 0.0, top_k: int = 0, seed: int = 0,
) -> np.ndarray:  # fmt: skip
    """Decode P image codes after each item's prefix (`sample_image_tokens` over the VQ code
    block of the vocabulary). Returns int64 [N, P] codes in 0..K-1, in the order of `items`."""
    cfg = model.cfg
    embed_tokens = model.lm.get_input_embeddings()

    def start(batch):
        res = model.lm(inputs_embeds=model.embed(batch["input_ids"], batch["pixels"]),
                       use_cache=True)  # fmt: skip
        return res.logits[:, -1], res.past_key_values

    def step(ids, past):
        res = model.lm(inputs_embeds=embed_tokens(ids)[:, None], **{CACHE_KW: past},
                       use_cache=True)  # fmt: skip
        return res.logits[:, -1], res.past_key_values

    codes = torch.arange(vocab.code_offset, vocab.code_offset + vocab.n_codes)
    return sample_image_tokens(
        items, start, step, codes, cfg.n_patches, (cfg.n_patches, cfg.patch_size**2 * 3),
        _device(model), batch_size=batch_size, temperature=temperature, top_k=top_k, seed=seed,
    )  # fmt: skip


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


def answer_span(item: Item) -> list[int]:
    """The token ids of the item's (first) answer: the answer-role run from `n_prefix`."""
    end = item.n_prefix
    while end < len(item.roles) and item.roles[end] == ROLE_ANSWER:
        end += 1
    return item.ids[item.n_prefix : end]


@torch.no_grad()
def continuation_logprobs(
    items: list[Item], continuations: list[list[list[int]]], forward: Forward,
    patch_shape: tuple[int, int], device, batch_size: int = 128,
) -> list[np.ndarray]:  # fmt: skip
    """log p(continuation | item prefix) for each of each item's continuations (token ids).

    A continuation of m tokens is scored from one sequence, the prefix and its first m - 1
    tokens (as answer positions), as the sum of its tokens' log-probabilities (full-vocabulary
    softmax). Continuations that share those m - 1 tokens share that sequence: single-token
    choices cost one forward of the prefix per item. `forward(batch) -> logits [B, T, V]`.
    """
    shared: dict[tuple, list[tuple[int, list[int]]]] = defaultdict(list)
    for k, conts in enumerate(continuations):
        for j, cont in enumerate(conts):
            shared[(k, tuple(cont[:-1]))].append((j, cont))
    keys = list(shared)
    out = [np.zeros(len(c)) for c in continuations]
    for s in range(0, len(keys), batch_size):
        chunk = keys[s : s + batch_size]
        seqs = []
        for k, extra in chunk:
            it, n = items[k], items[k].n_prefix
            seqs.append(Item(it.ids[:n] + list(extra), it.roles[:n] + [ROLE_ANSWER] * len(extra),
                             n, it.pixels, it.task))  # fmt: skip
        batch = collate(seqs, *patch_shape)
        logits = forward({k: v.to(device) for k, v in batch.items()})
        for b, key in enumerate(chunk):
            n = items[key[0]].n_prefix
            # only the positions scored go through the softmax: a real vocabulary is ~10^5 wide
            logp = logits[b, n - 1 : n + len(key[1])].float().log_softmax(-1)
            for j, cont in shared[key]:
                out[key[0]][j] = float(logp[torch.arange(len(cont)), torch.tensor(cont)].sum())
    return out


@torch.no_grad()
def answer_probs(
    model: UnifiedModel,
    items: list[Item],
    vocab: Vocab,
    choices: list[tuple[str, ...]],
    batch_size: int = 128,
    forward: Forward | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Probability of each item's answer token and of each of its choices (full-vocab softmax).

    `forward(batch) -> logits` lets knockouts run the same scoring through a hooked model.
    Returns (p_answer [N], [p_choices per item]).
    """
    cfg = model.cfg
    if forward is None:

        def forward(batch):
            return model(batch["input_ids"], batch["pixels"]).logits

    conts = [[[vocab[c]] for c in ch] + [answer_span(it)] for it, ch in zip(items, choices,
                                                                            strict=True)]  # fmt: skip
    logp = continuation_logprobs(items, conts, forward, (cfg.n_patches, cfg.patch_size**2 * 3),
                                 _device(model), batch_size)  # fmt: skip
    return np.exp([lp[-1] for lp in logp]), [np.exp(lp[:-1]) for lp in logp]
