"""Inference helpers: image generation (constrained to image tokens) and answer scoring.

The cores, `sample_image_tokens` and `continuation_logprobs`, know no model: they batch items,
call the model through the functions they are given, and read logits. `generate_codes` and
`answer_probs` run them on a `UnifiedModel`; a Hugging Face model source runs them on its own
model (sgt_probe.sources).
"""

from __future__ import annotations

import copy
import inspect
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import torch
from transformers import DynamicCache, LlamaForCausalLM, StaticCache

from sgt_probe.model.sequences import ROLE_ANSWER, ROLE_PAD, ROLE_TEXT, Item, collate
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
    unconditional: list[Item] | None = None, guidance: float = 1.0, padded: bool = False,
) -> np.ndarray:  # fmt: skip
    """Draw `n_tokens` image tokens after each item's prefix (items built without targets).

    Logits are restricted to `token_ids` [K] (the model is asked for an image); with `row`, the
    model reads the end-of-row token `eol` after every `row` tokens, as a model that writes
    images row by row (Emu3) expects. temperature 0 is greedy; otherwise tokens are sampled from
    softmax(logits / temperature), restricted to the `top_k` most likely when top_k > 0, from a
    generator seeded by `seed` and each item's position, so a result does not depend on batch
    size or order. Items are grouped by prefix length so every row of a batch shares positions
    and the KV cache needs no padding; with `padded`, `start` takes rows of different lengths
    (right-padded by `collate`) and masks the padding itself, and items are batched in order of
    length: one group instead of one per length, each step a larger batch (a benchmark's
    prompts have several lengths, and for a small model a step's cost is mostly per call).
    Returns int64 [N, n_tokens], indices into `token_ids`.

    Classifier-free guidance (Ho & Salimans 2022), with `unconditional` (one item per item, its
    prompt left out): both streams read the same drawn tokens, and each token is picked from
    u + guidance * (c - u) of their logits c and u, so guidance 1 is plain conditional decoding
    and larger values push away from what the model would draw for no prompt at all.
    """
    token_ids = token_ids.to(device)
    out = np.zeros((len(items), n_tokens), dtype=np.int64)
    streams = [items] if unconditional is None else [items, unconditional]
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    if padded:  # one group, in order of length: a batch's rows then need little padding
        groups[()] = sorted(range(len(items)), key=lambda i: len(items[i].ids))
    else:
        for i in range(len(items)):
            groups[tuple(len(st[i].ids) for st in streams)].append(i)
    for idx in groups.values():
        for s in range(0, len(idx), batch_size):
            chunk = idx[s : s + batch_size]
            batches = [collate([st[i] for i in chunk], *patch_shape) for st in streams]
            heads = [start({k: v.to(device) for k, v in b.items()}) for b in batches]
            # uniforms [b, n] drawn per item: item i's draws never depend on its batch mates
            draws = torch.stack([
                torch.rand(n_tokens, generator=torch.Generator().manual_seed(seed * 1_000_003 + i))
                for i in chunk]).to(device)  # fmt: skip
            for p in range(n_tokens):
                logits = [lg[:, token_ids].float() for lg, _ in heads]
                if len(logits) == 2:
                    logits = [logits[1] + guidance * (logits[0] - logits[1])]
                code = pick_codes(logits[0], temperature, top_k, draws[:, p])
                out[chunk, p] = code.cpu().numpy()
                if p + 1 == n_tokens:
                    break
                heads = [step(token_ids[code], past) for _, past in heads]
                if row and (p + 1) % row == 0:
                    heads = [step(torch.full_like(code, eol), past) for _, past in heads]
    return out


@torch.no_grad()
def generate_codes(
    model: UnifiedModel, items: list[Item], vocab: Vocab, batch_size: int = 512,
    temperature: float = 0.0, top_k: int = 0, seed: int = 0,
    unconditional: list[Item] | None = None, guidance: float = 1.0, padded: bool = True,
) -> np.ndarray:  # fmt: skip
    """Decode P image codes after each item's prefix (`sample_image_tokens` over the VQ code
    block of the vocabulary, with classifier-free guidance when `unconditional` is given).
    Returns int64 [N, P] codes in 0..K-1, in the order of `items`. Prompts of every length
    share batches (`padded`); False batches them by length, more slowly, with the same greedy
    codes (a sampled draw can differ by float rounding: benchmarks/decode_bench.py).

    Batches of up to 512 rows, so a benchmark's 512 prompts decode in one batch of P steps
    (by length, the tiny model's 512 generations took 6.8 s in batches of 64 and 5.5 s in
    batches of 512 on the loaded 2-core CPU, the same codes)."""
    if bridged(model):
        raise RuntimeError("decode images before booting a TransformerBridge over the model: "
                           "its attention modules ignore the KV cache decoding needs")  # fmt: skip
    cfg = model.cfg
    embed_tokens = model.lm.get_input_embeddings()

    def start(batch):
        # collate pads on the right; decoding appends on the right, so each row's tokens move
        # to the end of the row, its padding to the front, masked, and its positions count
        # from its first token as they would alone
        roles, t = batch["roles"], batch["input_ids"].shape[1]
        lengths = (roles != ROLE_PAD).sum(1)
        moved = (torch.arange(t, device=roles.device)[None] - (t - lengths)[:, None]) % t
        mask = roles.gather(1, moved).ne(ROLE_PAD).long()
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        # a cache allocated once for the whole image: a growing one copies itself every step
        # (guided decoding of the tiny base's 512 prompts 3.0 -> 2.7 s, the small base's
        # 10.8 -> 9.9 s; the same greedy codes)
        cache = StaticCache(config=model.lm.config, max_cache_len=t + cfg.n_patches)
        res = model.lm(inputs_embeds=model.embed(batch["input_ids"].gather(1, moved),
                                                 batch["pixels"]),
                       attention_mask=mask, position_ids=positions, use_cache=True,
                       **{CACHE_KW: cache})  # fmt: skip
        return res.logits[:, -1], (res.past_key_values, mask, lengths)

    def step(ids, state):
        past, mask, position = state
        mask = torch.cat([mask, mask.new_ones(len(ids), 1)], 1)
        res = model.lm(inputs_embeds=embed_tokens(ids)[:, None], attention_mask=mask,
                       position_ids=position[:, None], **{CACHE_KW: past}, use_cache=True)  # fmt: skip
        return res.logits[:, -1], (res.past_key_values, mask, position + 1)

    codes = torch.arange(vocab.code_offset, vocab.code_offset + vocab.n_codes)
    return sample_image_tokens(
        items, start, step, codes, cfg.n_patches, (cfg.n_patches, cfg.patch_size**2 * 3),
        _device(model), batch_size=batch_size, temperature=temperature, top_k=top_k, seed=seed,
        unconditional=unconditional, guidance=guidance, padded=padded,
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
    Without it, when every answer is one token (as our worlds' are), consecutive items that
    share their context (what precedes the question: `<bos> <boi> IMG <eoi>`, as one scene's
    questions do) read it once: its keys and values are cached and every question continues
    from them (`_shared_context_logits`), about a third of the tokens of a full pass per
    question, equal to it up to float rounding. Returns (p_answer [N], [p_choices per item]).
    """
    cfg = model.cfg
    conts = _continuations(items, vocab, choices)
    if forward is None and _one_token_answers(model, conts):
        return _scored_once(model, items, conts, batch_size, [None])[0]
    if forward is None:

        def forward(batch):
            return model(batch["input_ids"], batch["pixels"]).logits

    logp = continuation_logprobs(items, conts, forward, (cfg.n_patches, cfg.patch_size**2 * 3),
                                 _device(model), batch_size)  # fmt: skip
    return np.exp([lp[-1] for lp in logp]), [np.exp(lp[:-1]) for lp in logp]


@torch.no_grad()
def answer_probs_edited(
    model: UnifiedModel,
    items: list[Item],
    vocab: Vocab,
    choices: list[tuple[str, ...]],
    edits: list,
    batch_size: int = 128,
) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """`answer_probs` under each of `edits` (None: the model as it is), each context read once
    for all of them (a knockout scores every window of layers on the same questions).

    An edit (layers, bias) adds bias(q_roles [b, Q], k_roles [b, K]) -> [b, 1, Q, K] to the
    attention scores of those layers in the question passes; the image context, read once,
    must be left alone by it, which is checked. Needs one-token answers and the model's own
    attention (no TransformerBridge booted over it)."""
    conts = _continuations(items, vocab, choices)
    if not _one_token_answers(model, conts):
        raise RuntimeError("an attention edit needs one-token answers scored on the model's own "
                           "attention (no TransformerBridge booted over it)")  # fmt: skip
    return _scored_once(model, items, conts, batch_size, edits)


def _continuations(items: list[Item], vocab: Vocab, choices) -> list[list[list[int]]]:
    """Per item: each choice's token, then the answer's tokens."""
    return [[[vocab[c]] for c in ch] + [answer_span(it)]
            for it, ch in zip(items, choices, strict=True)]  # fmt: skip


def _one_token_answers(model: UnifiedModel, conts) -> bool:
    """Whether the shared-context scoring applies: one-token answers, the model's own attention."""
    return not bridged(model) and all(len(c[-1]) == 1 for c in conts)


def _scored_once(model, items, conts, batch_size, edits) -> list[tuple[np.ndarray, list]]:
    """(p_answer, p_choices) under each edit, from `_shared_context_logits`."""
    out = [(np.zeros(len(items)), [None] * len(items)) for _ in edits]
    for idx, per_edit in _shared_context_logits(model, items, batch_size, edits):
        for (p_answer, p_choices), logits in zip(out, per_edit, strict=True):
            probs = logits.float().softmax(-1)  # logits [b, V] at each item's last prefix position
            for j, k in enumerate(idx):
                p_answer[k] = probs[j, conts[k][-1][0]].item()
                p_choices[k] = probs[j, [c[0] for c in conts[k][:-1]]].cpu().numpy()
    return out


def bridged(model: UnifiedModel) -> bool:
    """Whether a TransformerBridge was booted over the model (capture does, sharing its
    weights): its attention modules are then the bridge's, which with this transformers release
    ignore a KV cache, so a cached pass would read nothing before its own tokens."""
    return any(type(m).__module__.startswith("transformer_lens") for m in model.lm.modules())


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


def _shared_context_logits(model: UnifiedModel, items: list[Item], batch_size: int, edits):
    """(item indices, [logits [b, V] at their last prefix position under each edit]), each
    context run once for every edit.

    Contexts of one length are batched (`batch_size` items' worth of them at a time), their KV
    cache copied once per item sharing it (and per edit), and each item's continuation
    (right-padded: the attention is causal, so padding after a position never changes it) run
    on that cache.
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
            context = DynamicCache()
            model(ctx["input_ids"].to(dev), ctx["pixels"].to(dev), use_cache=True,
                  **{CACHE_KW: context})  # fmt: skip
            idx = [k for g in chunk for k in g]
            owner = torch.tensor([j for j, g in enumerate(chunk) for _ in g])
            rest = [items[k].ids[c : items[k].n_prefix] for k in idx]
            ids = torch.zeros(len(idx), max(map(len, rest)), dtype=torch.long)
            roles = torch.zeros(len(idx), ids.shape[1], dtype=torch.long)  # padding: ROLE_PAD
            for j, (r, k) in enumerate(zip(rest, idx, strict=True)):
                ids[j, : len(r)] = torch.tensor(r)
                roles[j, : len(r)] = torch.tensor(items[k].roles[c : items[k].n_prefix])
            last = torch.tensor([len(r) - 1 for r in rest], device=dev)
            per_edit = []
            for e, edit in enumerate(edits):
                # a question pass appends to its cache: every edit but the last gets a copy
                cache = context if e == len(edits) - 1 else copy.deepcopy(context)
                cache.reorder_cache(owner.to(dev))
                with _edited_attention(model, edit, ctx["roles"], ctx["roles"][owner], roles):
                    logits = model(ids.to(dev), None, use_cache=True, **{CACHE_KW: cache}).logits
                per_edit.append(logits[torch.arange(len(idx), device=dev), last])
            yield idx, per_edit


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
