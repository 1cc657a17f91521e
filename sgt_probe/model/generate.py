"""Inference helpers: image generation (constrained to VQ codes) and answer scoring."""

from __future__ import annotations

import inspect
from collections import defaultdict
from contextlib import contextmanager

import numpy as np
import torch
from transformers import DynamicCache, LlamaForCausalLM

from sgt_probe.model.sequences import ROLE_TEXT, Item, collate
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
    model: UnifiedModel, items: list[Item], vocab: Vocab, batch_size: int = 512,
    temperature: float = 0.0, top_k: int = 0, seed: int = 0,
) -> np.ndarray:  # fmt: skip
    """Decode P image codes after each item's prefix (items built without targets).

    temperature 0 is greedy; otherwise codes are sampled from softmax(logits / temperature),
    restricted to the `top_k` most likely codes when top_k > 0, from a generator seeded by
    `seed` and each item's position, so a result does not depend on batch size or order.
    Items are grouped by prefix length so every row of a batch shares positions and the KV cache
    needs no padding; a group is decoded in batches of up to `batch_size` rows, P steps each,
    so a benchmark of 512 prompts takes P steps per prompt length, not per 64 prompts (the tiny
    model's 512 generations: 6.8 s in batches of 64, 5.5 s in batches of 512, the same codes). Logits are restricted to the code block: the model is asked for an image.
    Returns int64 [N, P] codes in 0..K-1, in the order of `items`.
    """
    if bridged(model):
        raise RuntimeError("decode images before booting a TransformerBridge over the model: "
                           "its attention modules ignore the KV cache decoding needs")  # fmt: skip
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
    edit: tuple | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Probability of each item's answer token and of each of its choices (full-vocab softmax).

    `forward(batch) -> logits` lets knockouts run the same scoring through a hooked model. Without
    it, consecutive items that share their context (what precedes the question: `<bos> <boi>
    IMG <eoi>`, as one scene's questions do) read it once: its keys and values are cached and
    every question continues from them (`_shared_context_logits`), about a third of the tokens
    of a full pass per question, equal to it up to float rounding.
    `edit` = (layers, bias) adds bias(q_roles [b, Q], k_roles [b, K]) -> [b, 1, Q, K] to the
    attention scores of those layers in the question passes (a knockout: `attention.knockout`);
    the image context, read once for all its questions, must be left alone by it (its queries
    come before any question word), which is checked.
    Returns (p_answer [N], [p_choices per item]).
    """
    cfg, dev = model.cfg, _device(model)
    p_answer = np.zeros(len(items))
    p_choices: list[np.ndarray] = [None] * len(items)  # type: ignore[list-item]
    if forward is None and bridged(model):  # its attention drops a KV cache: whole sequences
        if edit is not None:
            raise RuntimeError("an attention edit needs the model's own attention modules: "
                               "score before booting a TransformerBridge over it")  # fmt: skip

        def forward(batch: dict) -> torch.Tensor:
            return model(batch["input_ids"], batch["pixels"]).logits

    if forward is None:
        chunks = _shared_context_logits(model, items, batch_size, edit)
    else:
        chunks = _full_logits(items, cfg, dev, batch_size, forward)
    for idx, logits in chunks:  # logits [b, V] at each item's last prefix position
        probs = logits.float().softmax(-1)
        for j, k in enumerate(idx):
            it = items[k]
            p_answer[k] = probs[j, it.ids[it.n_prefix]].item()
            p_choices[k] = probs[j, [vocab[c] for c in choices[k]]].cpu().numpy()
    return p_answer, p_choices


def bridged(model: UnifiedModel) -> bool:
    """Whether a TransformerBridge was booted over the model (capture does, sharing its
    weights): its attention modules are then the bridge's, which with this transformers release
    ignore a KV cache, so a cached pass would read nothing before its own tokens."""
    return any(type(m).__module__.startswith("transformer_lens") for m in model.lm.modules())


def _full_logits(items: list[Item], cfg, dev, batch_size: int, forward):
    """(item indices, logits [b, V] at their last prefix position) from whole sequences."""
    for s in range(0, len(items), batch_size):
        chunk = items[s : s + batch_size]
        batch = collate(chunk, cfg.n_patches, cfg.patch_size**2 * 3)
        logits = forward({k: v.to(dev) for k, v in batch.items()})
        pos = torch.tensor([it.n_prefix - 1 for it in chunk], device=dev)
        yield range(s, s + len(chunk)), logits[torch.arange(len(chunk), device=dev), pos]


def context_length(item: Item) -> int:
    """The positions before the item's first question or prompt word: its image context."""
    return next((t for t, r in enumerate(item.roles) if r == ROLE_TEXT), item.n_prefix - 1)


def context_groups(items: list[Item]) -> list[list[int]]:
    """Runs of consecutive items with the same context (tokens and pixels)."""
    groups: list[list[int]] = []
    for k, it in enumerate(items):
        if groups:
            first = items[groups[-1][0]]
            c = context_length(first)
            if (context_length(it) == c and it.ids[:c] == first.ids[:c]
                    and (it.pixels is first.pixels or np.array_equal(it.pixels, first.pixels))):  # fmt: skip
                groups[-1].append(k)
                continue
        groups.append([k])
    return groups


def _shared_context_logits(model: UnifiedModel, items: list[Item], batch_size: int, edit=None):
    """(item indices, logits [b, V] at their last prefix position), each context run once.

    Contexts of one length are batched (`batch_size` items' worth of them at a time), their KV
    cache copied once per item sharing it, and each item's continuation (right-padded: the
    attention is causal, so padding after a position never changes it) run on that cache.
    """
    cfg, dev = model.cfg, _device(model)
    by_length: dict[int, list[list[int]]] = defaultdict(list)
    for g in context_groups(items):
        by_length[context_length(items[g[0]])].append(g)
    for c, groups in by_length.items():
        start = 0
        while start < len(groups):
            chunk, n = [], 0
            while start < len(groups) and (not chunk or n + len(groups[start]) <= batch_size):
                chunk.append(groups[start])
                n += len(groups[start])
                start += 1
            heads = [items[g[0]] for g in chunk]
            ctx = collate([Item(it.ids[:c], it.roles[:c], c, it.pixels, it.task) for it in heads],
                          cfg.n_patches, cfg.patch_size**2 * 3)  # fmt: skip
            cache = DynamicCache()
            model(ctx["input_ids"].to(dev), ctx["pixels"].to(dev), use_cache=True,
                  **{_CACHE_KW: cache})  # fmt: skip
            idx = [k for g in chunk for k in g]
            owner = torch.tensor([j for j, g in enumerate(chunk) for _ in g])
            cache.reorder_cache(owner.to(dev))
            rest = [items[k].ids[c : items[k].n_prefix] for k in idx]
            ids = torch.zeros(len(idx), max(map(len, rest)), dtype=torch.long)
            roles = torch.zeros(len(idx), ids.shape[1], dtype=torch.long)  # padding: ROLE_PAD
            for j, (r, k) in enumerate(zip(rest, idx, strict=True)):
                ids[j, : len(r)] = torch.tensor(r)
                roles[j, : len(r)] = torch.tensor(items[k].roles[c : items[k].n_prefix])
            with _edited_attention(model, edit, ctx["roles"], ctx["roles"][owner], roles):
                logits = model(ids.to(dev), None, use_cache=True, **{_CACHE_KW: cache}).logits
            last = torch.tensor([len(r) - 1 for r in rest], device=dev)
            yield idx, logits[torch.arange(len(idx), device=dev), last]


@contextmanager
def _edited_attention(model: UnifiedModel, edit, ctx_roles, row_ctx_roles, roles):
    """While the question pass runs: `edit`'s bias [b, 1, Q, c + Q] added to the attention mask
    of its layers, queries the pass's tokens (`roles` [b, Q]), keys the context's and theirs."""
    if edit is None:
        yield
        return
    layers, bias = edit
    if bool(bias(ctx_roles, ctx_roles).ne(0).any()):
        raise ValueError("the attention edit reaches the image context, which is read once "
                         "for all its questions: score whole sequences instead")  # fmt: skip
    dev = _device(model)
    add = bias(roles, torch.cat([row_ctx_roles, roles], 1)).to(dev)

    def hook(module, args, kwargs):
        mask = kwargs.get("attention_mask")
        if mask is None or mask.dtype == torch.bool:
            raise RuntimeError(f"expected an additive attention mask in {type(module).__name__}, "
                               f"got {None if mask is None else mask.dtype}")  # fmt: skip
        return args, {**kwargs, "attention_mask": mask + add.to(mask.dtype)}

    blocks = model.lm.model.layers
    handles = [blocks[layer].self_attn.register_forward_pre_hook(hook, with_kwargs=True)
               for layer in layers]  # fmt: skip
    try:
        yield
    finally:
        for h in handles:
            h.remove()
