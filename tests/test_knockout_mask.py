"""Knockout masks: blocked edges vanish after softmax, everything else is untouched."""

import numpy as np
import pytest
import torch

from sgt_probe.attention import (
    apply_knockout_to_scores,
    knockout_mask,
    layer_windows,
    relative_change,
)


@pytest.fixture
def roles():
    # Sequence of 10: sink, 5 image tokens, 4 text tokens; the second sample's image is shorter.
    image = torch.zeros(2, 10, dtype=torch.bool)
    image[0, 1:6] = True
    image[1, 1:4] = True
    text = torch.zeros(2, 10, dtype=torch.bool)
    text[:, 6:] = True
    return text, image


def test_blocked_edges_are_exactly_zero_and_other_rows_bit_identical(roles):
    text, image = roles
    scores = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(0))
    knocked = apply_knockout_to_scores(scores, knockout_mask(text, image)).softmax(-1)
    future = torch.ones(10, 10, dtype=torch.bool).triu(1)
    baseline = scores.masked_fill(future, float("-inf")).softmax(-1)

    blocked = (text[:, :, None] & image[:, None, :])[:, None].expand_as(knocked)
    assert (knocked[blocked] == 0).all()
    assert (knocked.masked_select(future) == 0).all()
    not_text = ~text[:, None, :, None].expand_as(knocked)
    assert torch.equal(knocked[not_text], baseline[not_text])
    # Text rows are the causal softmax restricted to non-image keys and renormalised.
    kept = baseline * ~blocked
    np.testing.assert_allclose(knocked, kept / kept.sum(-1, keepdim=True), rtol=1e-6, atol=1e-7)


def test_mask_shape_dtype_and_non_causal_variant(roles):
    text, image = roles
    mask = knockout_mask(text, image, causal=False, dtype=torch.bfloat16)
    assert mask.shape == (2, 1, 10, 10) and mask.dtype == torch.bfloat16
    blocked = text[:, :, None] & image[:, None, :]
    assert (mask[:, 0][blocked] == torch.finfo(torch.bfloat16).min).all()
    assert (mask[:, 0][~blocked] == 0).all()


def test_causal_mask_with_fewer_queries_than_keys():
    # Last 3 of 6 positions as queries (incremental decoding): query i sees keys <= i + 3.
    no_role = torch.zeros(1, 3, dtype=torch.bool), torch.zeros(1, 6, dtype=torch.bool)
    visible = knockout_mask(*no_role)[0, 0] == 0
    expected = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]).bool()
    assert torch.equal(visible, expected)


def test_layer_windows_are_centred_and_clipped():
    assert layer_windows(6, 3) == [(0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 5)]
    assert layer_windows(4, 4) == [(0, 2), (0, 3), (1, 3), (2, 3)]
    assert layer_windows(3, 1) == [(0, 0), (1, 1), (2, 2)]


def test_relative_change():
    np.testing.assert_allclose(relative_change([0.3, 0.8], [0.6, 0.4]), [-0.5, 1.0])
