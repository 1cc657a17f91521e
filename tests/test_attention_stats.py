"""Attention statistics on hand-made patterns, checked against hand-computed sums."""

import numpy as np
import pytest
import torch

from sgt_probe.attention import (
    attention_entropy,
    attention_mass,
    grounded_chance,
    grounded_precision,
    sink_mass,
    type_chance,
    type_shares,
)
from sgt_probe.probes.stats import paired_change_pct

# One sample, two heads, four positions: 0 = sink, 1-2 = image, 3 = text. Rows sum to 1.
PATTERN = np.array(
    [
        [
            [[1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0.2, 0.3, 0.5, 0], [0.1, 0.2, 0.3, 0.4]],
            [[1.0, 0, 0, 0], [0.9, 0.1, 0, 0], [0.6, 0.2, 0.2, 0], [0.7, 0.0, 0.1, 0.2]],
        ]
    ]
)
IMAGE = np.array([[False, True, True, False]])
TEXT = np.array([[False, False, False, True]])


def test_mass_is_the_hand_computed_sum():
    # text -> image: query 3, keys 1 and 2.
    np.testing.assert_allclose(attention_mass(PATTERN, TEXT, IMAGE), [0.5, 0.1])
    # image -> image: mean over queries 1 and 2 of their image-key sums.
    np.testing.assert_allclose(
        attention_mass(PATTERN, IMAGE, IMAGE), [(0.5 + 0.8) / 2, (0.1 + 0.4) / 2]
    )
    np.testing.assert_allclose(sink_mass(PATTERN, IMAGE), [(0.5 + 0.2) / 2, (0.9 + 0.6) / 2])


def test_mass_averages_samples_that_have_queries_and_keeps_layers():
    pattern = np.stack([PATTERN[0], PATTERN[0]])  # [B=2, H, Q, K]
    text = np.array([[False, False, False, True], [False] * 4])  # sample 1 has no text
    image = np.concatenate([IMAGE, IMAGE])
    per_sample = attention_mass(pattern, text, image, per_sample=True)
    assert per_sample.shape == (2, 2) and np.isnan(per_sample[1]).all()
    np.testing.assert_allclose(attention_mass(pattern, text, image), [0.5, 0.1])
    layered = torch.tensor(np.stack([pattern, pattern / 2]), dtype=torch.bfloat16)  # [L, B, ...]
    np.testing.assert_allclose(
        attention_mass(layered, text, image), [[0.5, 0.1], [0.25, 0.05]], atol=3e-3
    )


def test_entropy_is_log_k_for_uniform_and_zero_for_one_hot():
    uniform = np.full((1, 1, 3, 5), 0.2)
    assert attention_entropy(uniform, np.ones((1, 3), bool))[0] == pytest.approx(np.log(5))
    one_hot = np.eye(5)[None, None, :3]
    assert attention_entropy(one_hot, np.ones((1, 3), bool))[0] == 0.0
    expected = -(0.1 * np.log(0.1) + 0.2 * np.log(0.2) + 0.3 * np.log(0.3) + 0.4 * np.log(0.4))
    assert attention_entropy(PATTERN, TEXT)[0] == pytest.approx(expected)


def _object_scene():
    """Two samples, 3 heads, 2 text queries, 8 keys: 6 image keys, 2 of them the object."""
    image = np.zeros((2, 8), bool)
    image[:, 1:7] = True
    obj = np.zeros((2, 8), bool)
    obj[0, [2, 3]] = True
    obj[1, [5]] = True
    text = np.zeros((2, 8), bool)
    text[:, 7] = True
    return text, image, obj


def test_grounded_precision_is_one_when_text_attends_only_to_the_object():
    text, image, obj = _object_scene()
    pattern = np.zeros((2, 3, 8, 8))
    pattern[..., 0] = 1.0  # non-text rows all on the sink
    pattern[:, :, 7, :] = obj[:, None, :] / obj.sum(1)[:, None, None]
    result = grounded_precision(pattern, text, image, obj)
    np.testing.assert_array_equal(result.per_sample, [1.0, 1.0])
    np.testing.assert_array_equal(result.per_head, np.ones((2, 3)))


def test_grounded_precision_equals_chance_under_uniform_image_attention():
    text, image, obj = _object_scene()
    pattern = np.zeros((2, 3, 8, 8))
    pattern[:, :, 7, :] = 0.5 * image[:, None, :] / 6
    pattern[:, :, 7, 0] = 0.5  # half the mass on the sink must not change the precision
    chance = grounded_chance(image, obj)
    np.testing.assert_allclose(chance, [2 / 6, 1 / 6])
    result = grounded_precision(pattern, text, image, obj)
    np.testing.assert_allclose(result.per_sample, chance)
    np.testing.assert_allclose(result.per_head, np.repeat(chance[:, None], 3, 1))


def test_grounded_per_sample_is_the_head_averaged_pattern():
    text, image, obj = _object_scene()
    rng = np.random.default_rng(0)
    pattern = rng.dirichlet(np.ones(8), size=(2, 3, 8))
    averaged = pattern.mean(1)  # [B, Q, K]
    to_image = (averaged[:, 7] * image).sum(1)
    to_object = (averaged[:, 7] * obj).sum(1)
    result = grounded_precision(pattern, text, image, obj)
    np.testing.assert_allclose(result.per_sample, to_object / to_image)


def test_type_shares_against_a_loop_over_queries_and_keys():
    """Word-type shares of a random pattern, recomputed by plain loops: heads averaged, mass
    from the query set to each type's keys over the mass to every typed key."""
    rng = np.random.default_rng(0)
    pattern = rng.dirichlet(np.ones(6), size=(3, 2, 2, 6))  # [L, B, H, Q, K]
    queries = np.array([[0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 1]], bool)
    key_type = np.array([[-1, 0, 2, 2, -1, 1], [1, -1, 0, 3, -1, -1]])
    got = type_shares(pattern, queries, key_type, 4)  # [L, B, 4]
    for layer in range(3):
        for b in range(2):
            mean = pattern[layer, b].mean(0)  # heads averaged [Q, K]
            to_type = np.zeros(4)
            for q in np.flatnonzero(queries[b]):
                for k in np.flatnonzero(key_type[b] >= 0):
                    to_type[key_type[b, k]] += mean[q, k]
            np.testing.assert_allclose(got[layer, b], to_type / to_type.sum(), rtol=1e-6)
    np.testing.assert_allclose(got.sum(-1), 1.0)
    np.testing.assert_allclose(type_chance(key_type, 4), [[1 / 4, 1 / 4, 2 / 4, 0],
                                                          [1 / 3, 1 / 3, 0, 1 / 3]])  # fmt: skip
    no_query = type_shares(pattern, np.zeros_like(queries), key_type, 4)
    assert np.isnan(no_query).all()


def test_paired_change_is_the_percent_change_of_the_means_with_a_paired_interval():
    rng = np.random.default_rng(1)
    a = rng.uniform(0.2, 0.4, 200)
    b = a * 1.25 + rng.normal(0, 0.01, 200)
    change, lo, hi = paired_change_pct(a, b, groups=np.arange(200) // 4, n_boot=400)
    assert change == pytest.approx(100 * (b.mean() / a.mean() - 1))
    assert lo < change < hi and 22 < lo and hi < 28  # paired: narrow around +25%
    same, lo, hi = paired_change_pct(a, a)
    assert same == 0 and lo == hi == 0
