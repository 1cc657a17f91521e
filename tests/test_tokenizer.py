"""The VQ tokenizer: held-out round-trip quality per image kind, exactness, serialization."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgt_probe.data import DataSpec, make_world
from sgt_probe.tokenizer import (
    IMAGE_KINDS,
    VQTokenizer,
    VQVAETokenizer,
    fit_tokenizer,
    kind_images,
    patchify,
    psnr,
    tokenizer_from_state,
    tokenizer_report,
    unpatchify,
)

# Held-out PSNR floors (dB) of the k-means tokenizer, a little under what was measured with
# the defaults (patch 4, 256 codes, 256 fitted scenes, objects of the current size): shapes
# 20.8 / 23.0 / 26.0 / 24.3 / 22.1, digits 19.9 / 18.9 / 23.2 / 17.7 / 21.2 (scene /
# segmentation / depth / edge / inpainting).
FLOORS = {
    "shapes": {
        "scene": 20.0,
        "segmentation": 22.0,
        "depth": 25.0,
        "edge": 23.0,
        "inpainting_input": 21.0,
    },
    "digits": {
        "scene": 19.0,
        "segmentation": 18.0,
        "depth": 22.5,
        "edge": 17.0,
        "inpainting_input": 20.5,
    },
}


@pytest.fixture(scope="module")
def shapes():
    world = make_world(DataSpec(world="shapes", seed=0))
    return world, fit_tokenizer(world, n_scenes=256)


@pytest.fixture(scope="module")
def held_out(shapes):
    world, _ = shapes
    scenes = world.scenes(5000, 5032)  # fit_tokenizer uses scenes 0..256
    return np.concatenate([kind_images(world, scenes, kind) for kind in IMAGE_KINDS])


def test_patchify_is_row_major_and_inverted_by_unpatchify():
    images = np.arange(2 * 8 * 8 * 3, dtype=np.uint8).reshape(2, 8, 8, 3)
    patches = patchify(images, 4)  # [2, 4, 48]
    assert patches.shape == (2, 4, 48)
    # patch 1 is the top-right 4x4 block; its first values are pixel (0, 4)'s RGB
    np.testing.assert_array_equal(patches[0, 1, :3], images[0, 0, 4])
    np.testing.assert_array_equal(patches[0, 2, :3], images[0, 4, 0])
    np.testing.assert_array_equal(unpatchify(patches, 8, 4), images)


def test_psnr_definition():
    a = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    b = a.copy()
    b[0] = 255  # image 0: MSE = 255^2 -> 0 dB; image 1 identical -> counted as 100 dB
    assert psnr(a, b) == pytest.approx(50.0)
    assert psnr(a[0], a[0] + 1) == pytest.approx(20 * np.log10(255.0))


@pytest.mark.parametrize("name", ["shapes", "digits"])
def test_round_trip_psnr_per_kind_on_held_out_scenes(name, shapes):
    world = shapes[0] if name == "shapes" else make_world(DataSpec(world=name, seed=0))
    tok = shapes[1] if name == "shapes" else fit_tokenizer(world, n_scenes=256)
    report = tokenizer_report(tok, world, n=64)
    assert set(report) == set(IMAGE_KINDS)
    for kind, floor in FLOORS[name].items():
        assert report[kind] >= floor, (name, kind, report[kind])


def test_decode_then_encode_is_stable(shapes, held_out):
    _, tok = shapes
    codes = tok.encode(held_out)
    decoded = tok.decode(codes, 32)
    np.testing.assert_array_equal(tok.encode(decoded), codes)
    np.testing.assert_array_equal(tok.decode(tok.encode(decoded), 32), decoded)


def test_encode_matches_brute_force_nearest_code(shapes, held_out):
    _, tok = shapes
    codes = tok.encode(held_out).ravel()
    x = patchify(held_out, 4).reshape(-1, 48).astype(np.float64) / 255.0  # [N*P, 48]
    cb = tok.codebook_.astype(np.float64)
    # float64, all three terms of |x - c|^2 (encode drops |x|^2 and works in float32)
    dist = (x**2).sum(1)[:, None] - 2 * x @ cb.T + (cb**2).sum(1)[None]  # [N*P, K]
    chosen = dist[np.arange(len(x)), codes]
    # equal to the true minimum up to float32 rounding (ties may pick either code)
    np.testing.assert_allclose(chosen, dist.min(axis=1), atol=1e-5)
    assert (codes == dist.argmin(axis=1)).mean() > 0.999


def test_encode_is_chunk_independent(shapes, held_out, monkeypatch):
    _, tok = shapes
    whole = tok.encode(held_out)
    monkeypatch.setattr("sgt_probe.tokenizer.vq._ENCODE_CHUNK", 100)
    np.testing.assert_array_equal(tok.encode(held_out), whole)


def test_state_dict_survives_weights_only_load(shapes, held_out, tmp_path):
    _, tok = shapes
    path = tmp_path / "tok.pt"
    torch.save(tok.state_dict(), path)
    loaded = VQTokenizer.from_state_dict(torch.load(path, weights_only=True))
    np.testing.assert_array_equal(loaded.codebook_, tok.codebook_)
    assert (loaded.n_codes, loaded.patch_size, loaded.seed) == (256, 4, 0)
    np.testing.assert_array_equal(loaded.encode(held_out), tok.encode(held_out))


def test_fit_is_deterministic():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 16, 16, 3), dtype=np.uint8)
    a = VQTokenizer(n_codes=16, seed=3).fit(images).codebook_
    b = VQTokenizer(n_codes=16, seed=3).fit(images).codebook_
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == (16, 48)
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_errors_are_clear():
    with pytest.raises(RuntimeError, match="not fitted"):
        VQTokenizer().encode(np.zeros((1, 8, 8, 3), dtype=np.uint8))
    tok = VQTokenizer(n_codes=4).fit(np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3)))
    with pytest.raises(ValueError, match="multiple of patch size"):
        tok.encode(np.zeros((1, 6, 6, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="do not make"):
        tok.decode(np.zeros((1, 5), dtype=np.int64), 8)
    with pytest.raises(ValueError, match="codebook shape"):
        VQTokenizer.from_state_dict({**tok.state_dict(), "n_codes": 8})


# --- the learned VQ-VAE tokenizer -----------------------------------------------------------

# tiny and brief: the tests check the mechanics (geometry, determinism, serialization); what
# the full-size tokenizer reaches is measured by the judge on decoded ground truth
TINY_VQVAE = {"n_codes": 32, "channels": 16, "code_dim": 8, "batch_size": 16}


@pytest.fixture(scope="module")
def crops(shapes):
    """uint8 [N, 16, 16, 3]: top-left quarters of every image kind of 48 scenes."""
    world, _ = shapes
    scenes = world.scenes(0, 48)
    return np.concatenate([kind_images(world, scenes, k) for k in IMAGE_KINDS])[:, :16, :16]


@pytest.fixture(scope="module")
def vqvae(crops):
    return VQVAETokenizer(seed=5, steps=120, **TINY_VQVAE).fit(crops)


def test_vqvae_round_trips_geometry_and_learns(vqvae, crops):
    codes = vqvae.encode(crops)
    assert codes.shape == (len(crops), 16) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < 32
    decoded = vqvae.decode(codes, 16)
    assert decoded.shape == crops.shape and decoded.dtype == np.uint8
    untrained = VQVAETokenizer(seed=5, steps=0, **TINY_VQVAE).fit(crops)
    assert psnr(decoded, crops) > psnr(untrained.decode(untrained.encode(crops), 16), crops) + 3


def test_vqvae_is_deterministic_and_survives_weights_only_load(vqvae, crops, tmp_path):
    a = VQVAETokenizer(seed=2, steps=10, **TINY_VQVAE).fit(crops)
    assert (
        a.fingerprint() == VQVAETokenizer(seed=2, steps=10, **TINY_VQVAE).fit(crops).fingerprint()
    )
    assert (
        a.fingerprint() != VQVAETokenizer(seed=3, steps=10, **TINY_VQVAE).fit(crops).fingerprint()
    )
    path = tmp_path / "vqvae.pt"
    torch.save(vqvae.state_dict(), path)
    loaded = tokenizer_from_state(torch.load(path, weights_only=True))
    assert isinstance(loaded, VQVAETokenizer) and loaded.fingerprint() == vqvae.fingerprint()
    codes = vqvae.encode(crops[:8])
    np.testing.assert_array_equal(loaded.encode(crops[:8]), codes)
    np.testing.assert_array_equal(loaded.decode(codes, 16), vqvae.decode(codes, 16))
    shapes = {k: tuple(v.shape) for k, v in vqvae.state_dict()["weights"].items()}
    assert loaded.weight_shapes() == shapes


def test_tokenizer_kinds_are_chosen_by_name():
    with pytest.raises(ValueError, match="unknown tokenizer"):
        fit_tokenizer(make_world(DataSpec()), kind="pca")
    with pytest.raises(ValueError, match="power of two"):
        VQVAETokenizer(patch_size=6)
    with pytest.raises(RuntimeError, match="not fitted"):
        VQVAETokenizer().encode(np.zeros((1, 8, 8, 3), dtype=np.uint8))
    # checkpoints written before the kinds existed hold a k-means codebook without "kind"
    tok = VQTokenizer(n_codes=4).fit(np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3)))
    old = {k: v for k, v in tok.state_dict().items() if k != "kind"}
    assert isinstance(tokenizer_from_state(old), VQTokenizer)


def test_a_tokenizer_is_fitted_on_every_kind_with_scenes_repeated(monkeypatch):
    world = make_world(DataSpec())
    seen = []
    monkeypatch.setattr(VQTokenizer, "fit", lambda self, images: seen.append(images) or self)
    fit_tokenizer(world, n_scenes=4, scene_repeat=3)
    scenes = [world.scene(i) for i in world.split("train")[:4]]
    maps = [kind_images(world, scenes, k) for k in IMAGE_KINDS if k != "scene"]
    want = np.concatenate([kind_images(world, scenes, "scene")] * 3 + maps)
    np.testing.assert_array_equal(seen[0], want)
