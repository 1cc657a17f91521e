"""The logit lens (nostalgebraist 2020): a residual read out through the model's own final norm
and unembedding, as if the layer were the last.

The bridge's `ln_final` and `unembed` are the model's own modules (for a Llama decoder, its
RMSNorm and lm_head), so the lens of the last layer's residual is the model's logits there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge


@torch.no_grad()
def lens_logits(bridge: TransformerBridge, X, token_ids: list[int], batch_rows: int = 8192
                ) -> np.ndarray:  # fmt: skip
    """float32 [L, N, k]: each residual of X [L, N, d] (float) through the final norm and the
    unembedding, the logits of `token_ids` [k] only (the unembedding's columns and bias of
    those tokens: the same numbers as the whole logit vector's entries, without computing the
    rest of a large vocabulary)."""
    param = next(bridge.parameters())
    ids = torch.as_tensor(token_ids, device=param.device)
    W = bridge.unembed.W_U[:, ids]  # [d, k]
    b = bridge.unembed.b_U[ids]
    X = np.asarray(X)
    out = np.empty((*X.shape[:2], len(token_ids)), np.float32)
    for layer, x in enumerate(X):
        for s in range(0, len(x), batch_rows):
            h = torch.as_tensor(x[s : s + batch_rows], device=param.device, dtype=param.dtype)
            logits = bridge.ln_final(h) @ W + b
            out[layer, s : s + len(h)] = logits.float().cpu().numpy()
    return out
