"""Attention statistics on captured patterns (docs/design.md §5), and the paper's Fig. 8b
allocation: how a query set's attention to typed keys (a prompt's words by type) splits.

Direction is always query -> key: "text -> image" is text-token queries attending to
image-token keys. Patterns are post-softmax weights ``[..., B, H, Q, K]`` (optionally with a
leading layer axis, as captured from ``blocks.{L}.attn.hook_pattern``); masks are per sample,
``[B, Q]`` over query positions and ``[B, K]`` over key positions. Computation is in torch
(float32, or float64 if given), on the pattern's device; results are float64 numpy arrays.
"""

from typing import NamedTuple

import numpy as np
import torch


class GroundedPrecision(NamedTuple):
    per_sample: np.ndarray  # [..., B] precision of the head-averaged pattern
    per_head: np.ndarray  # [..., B, H]


def attention_mass(pattern, query_mask, key_mask, per_sample: bool = False) -> np.ndarray:
    """Attention mass from the query set Q to the key set K, per head.

    For each query in Q, the sum of its attention weights over the keys in K; averaged over the
    queries in Q of a sample. ``per_sample=True`` returns [..., B, H] (NaN for a sample with no
    query in Q); otherwise the mean over samples that have at least one such query, [..., H].
    """
    p = _as_pattern(pattern)
    keys = _as_mask(key_mask, p)[:, None, :, None]  # [B, 1, K, 1]
    return _query_mean((p @ keys)[..., 0], query_mask, per_sample)


def sink_mass(pattern, query_mask, per_sample: bool = False) -> np.ndarray:
    """Attention mass from the query set to the first token (key 0, the attention sink).

    Same averaging and shapes as ``attention_mass``.
    """
    p = _as_pattern(pattern)
    return _query_mean(p[..., 0], query_mask, per_sample)


def attention_entropy(pattern, query_mask, per_sample: bool = False) -> np.ndarray:
    """Entropy of each query's attention distribution, -sum_k p log p in nats (0 log 0 = 0),
    averaged over the queries in the query set. Same averaging and shapes as ``attention_mass``.
    """
    p = _as_pattern(pattern)
    # only the rows of queries some sample asks about: the others' entropies are never read,
    # and a [.., Q, K] temporary of them all is a whole pattern's size
    queries = torch.as_tensor(query_mask, device=p.device).bool()
    rows = queries.any(0).nonzero()[:, 0]
    q = p.index_select(-2, rows)
    return _query_mean(-torch.special.xlogy(q, q).sum(-1), queries[:, rows], per_sample)


def grounded_precision(pattern, text_mask, image_mask, object_mask) -> GroundedPrecision:
    """Share of the text -> image attention mass that lands on the named object's patches.

    For sample b and head h::

        precision[b, h] = sum_{q in text, k in image & object} p[b, h, q, k]
                          / sum_{q in text, k in image} p[b, h, q, k]

    ``per_sample`` is the same ratio with both sums also taken over heads, i.e. the precision of
    the head-averaged pattern (heads that barely look at the image weigh little). NaN where a
    sample has no text query or no text -> image mass. Compare with ``grounded_chance``.
    """
    p = _as_pattern(pattern)
    image = _as_mask(image_mask, p)
    on_object = image * _as_mask(object_mask, p)
    text = _as_mask(text_mask, p)[:, None, None, :]  # [B, 1, 1, Q]
    from_text = (text @ p)[..., 0, :]  # summed over text queries [..., B, H, K]
    to_image = (from_text * image[:, None]).sum(-1)  # [..., B, H]
    to_object = (from_text * on_object[:, None]).sum(-1)
    return GroundedPrecision(
        per_sample=_numpy(to_object.sum(-1) / to_image.sum(-1)),
        per_head=_numpy(to_object / to_image),
    )


def grounded_chance(image_mask, object_mask) -> np.ndarray:
    """Chance level of ``grounded_precision``: object patches / image patches, per sample [B]."""
    image = torch.as_tensor(image_mask, dtype=torch.bool)
    on_object = image & torch.as_tensor(object_mask, dtype=torch.bool)
    return _numpy(on_object.sum(-1).double() / image.sum(-1))


def type_shares(pattern, query_mask, key_type, n_types: int) -> np.ndarray:
    """[..., B, n_types]: per sample, the share of the queries' attention to typed keys that
    lands on keys of each type.

    key_type [B, K] holds each key's type in 0..n_types-1, or -1 for a key of no type (not in
    the key set). For sample b::

        share[b, t] = sum_{q in Q, k: type k = t} p_mean[b, q, k] / sum_{q in Q, k typed} p_mean[b, q, k]

    with p_mean the head-averaged pattern. The shares of a sample sum to 1; NaN where it has no
    query, or its queries pay no attention to typed keys.
    """
    p = _as_pattern(pattern).mean(-3)  # [..., B, Q, K]
    queries = _as_mask(query_mask, p)[:, None, :]  # [B, 1, Q]
    types = torch.as_tensor(key_type, device=p.device).long()
    onehot = (types[..., None] == torch.arange(n_types, device=p.device)).to(p.dtype)  # [B,K,T]
    per_type = ((queries @ p) @ onehot)[..., 0, :]  # [..., B, T] summed over the queries
    return _numpy(per_type / per_type.sum(-1, keepdim=True))


def type_chance(key_type, n_types: int) -> np.ndarray:
    """[B, n_types]: each type's share of a sample's typed keys, the share uniform attention
    over them would give it (the chance level of `type_shares`)."""
    types = torch.as_tensor(key_type).long()
    counts = (types[..., None] == torch.arange(n_types)).double().sum(-2)  # [B, T]
    return _numpy(counts / counts.sum(-1, keepdim=True))


def _as_pattern(pattern) -> torch.Tensor:
    p = torch.as_tensor(pattern)
    # Half-precision patterns would lose the small weights that these sums add up.
    return p if p.dtype == torch.float64 else p.float()


def _as_mask(mask, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(mask, device=like.device).to(like.dtype)


def _query_mean(per_query: torch.Tensor, query_mask, per_sample: bool) -> np.ndarray:
    """Mean of per_query [..., B, H, Q] over each sample's query set, then over samples."""
    queries = _as_mask(query_mask, per_query)[..., None]  # [B, Q, 1]
    per_bh = (per_query @ queries)[..., 0] / queries.sum(1)  # 0/0 -> NaN: no query
    return _numpy(per_bh if per_sample else per_bh.nanmean(-2))


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.double().cpu().numpy()
