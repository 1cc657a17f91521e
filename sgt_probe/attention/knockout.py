"""Attention knockout (Zhang et al. 2024): block text -> image edges in a window of layers.

``knockout_mask`` builds the additive mask; the model-side code adds it to the attention
scores of the layers in a window from ``layer_windows`` (``apply_knockout_to_scores`` is that
addition), and the effect is reported with ``relative_change``.
"""

import numpy as np
import torch


def knockout_mask(roles_q, roles_k, causal: bool = True, dtype=torch.float32) -> torch.Tensor:
    """Additive attention mask [B, 1, Q, K] that blocks every text-query -> image-key edge.

    ``roles_q`` [B, Q] marks the text queries, ``roles_k`` [B, K] the image keys. Blocked
    entries hold ``torch.finfo(dtype).min`` (the Hugging Face convention: softmax turns them
    into exact zeros without the NaN a fully -inf row would give), all others 0. With
    ``causal`` the causal mask is folded in: the Q queries are the last Q of the K positions,
    and key j is visible to query i iff j <= i + K - Q. With ``causal=False`` it can be added
    onto a model's own causal mask; where both block an edge the sum overflows to -inf, which
    softmax still maps to 0 (each query's own position is never blocked, so no row is all -inf).
    """
    text_q = torch.as_tensor(roles_q, dtype=torch.bool)
    image_k = torch.as_tensor(roles_k, dtype=torch.bool, device=text_q.device)
    blocked = text_q[:, :, None] & image_k[:, None, :]  # [B, Q, K]
    if causal:
        n_q, n_k = blocked.shape[1:]
        future = torch.ones(n_q, n_k, dtype=torch.bool, device=blocked.device)
        blocked = blocked | future.triu(n_k - n_q + 1)
    mask = torch.zeros(blocked.shape, dtype=dtype, device=blocked.device)
    return mask.masked_fill(blocked, torch.finfo(dtype).min)[:, None]


def apply_knockout_to_scores(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Pre-softmax scores [B, H, Q, K] with the additive mask [B, 1, Q, K] applied."""
    return scores + mask.to(scores.dtype)


def layer_windows(n_layers: int, window: int) -> list[tuple[int, int]]:
    """Inclusive (first, last) layer window of ``window`` layers centred on each layer.

    One window per layer L, from L - (window - 1) // 2 to L + window // 2 (an even window has
    its extra layer after L), clipped to [0, n_layers - 1], so windows at the ends are shorter.
    """
    before, after = (window - 1) // 2, window // 2
    return [(max(0, i - before), min(n_layers - 1, i + after)) for i in range(n_layers)]


def relative_change(p_new, p_base) -> np.ndarray:
    """Relative change in the probability of the correct answer, (p_new - p_base) / p_base."""
    p_new, p_base = np.asarray(p_new, dtype=np.float64), np.asarray(p_base, dtype=np.float64)
    return (p_new - p_base) / p_base
