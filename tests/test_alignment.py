"""The alignment suite's measures against independent computations: the logit lens against the
final norm and unembedding done by hand on a tiny model, the drawn image's positions against the
sequence layout, probe transfer against scikit-learn; and the suite end to end in a report."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sgt_probe.capture.activations import capture_residuals
from sgt_probe.capture.lens import lens_logits
from sgt_probe.compare.suites import alignment
from sgt_probe.data import DataSpec, make_world
from sgt_probe.model.config import ModelConfig
from sgt_probe.model.loading import Loaded, build_model
from sgt_probe.model.sequences import ROLE_GENERATED, ROLE_IMAGE, ROLE_SPECIAL, Item, collate
from sgt_probe.model.vocab import Vocab
from sgt_probe.probes import debiased_linear_cka
from sgt_probe.report.format import load_report
from sgt_probe.sources.checkpoint import CheckpointSource
from sgt_probe.tokenizer import fit_tokenizer
from sgt_probe.tuning.taskdata import TaskData

SPEC = DataSpec()


@pytest.fixture(scope="module")
def world():
    return make_world(SPEC)


def _loaded(world, tokenizer) -> Loaded:
    cfg = ModelConfig(d_model=32, n_layers=3, n_heads=2, d_ff=64, n_codes=32)
    vocab = Vocab.build(world.words(), cfg.n_codes)
    model = build_model(cfg, vocab, seed=0).eval()
    # a final norm whose gain is not all ones, so the test sees it applied
    gain = 1.0 + 0.5 * torch.randn(cfg.d_model, generator=torch.Generator().manual_seed(1))
    model.lm.model.norm.weight.data.copy_(gain)
    return Loaded(None, {}, model, vocab, tokenizer, SPEC)


@pytest.fixture(scope="module")
def tiny(world):
    """A tiny untrained model wrapped for hooked passes, and a plain copy of the same weights
    (booting a bridge changes the wrapped model's modules) for the references."""
    tokenizer = fit_tokenizer(world, n_scenes=32, n_codes=32, seed=0)
    loaded, plain = _loaded(world, tokenizer), _loaded(world, tokenizer).model
    data = TaskData(world, tokenizer, loaded.vocab, loaded.cfg, range(6))
    return CheckpointSource(loaded).runner(), plain, data


def test_lens_is_the_final_norm_and_unembedding_by_hand(tiny):
    runner, plain, data = tiny
    X = np.random.default_rng(0).normal(0, 3, size=(2, 50, 32)).astype(np.float32)
    vocab = plain.lm.config
    ids = [5, 17, 40, vocab.vocab_size - 1]
    norm = plain.lm.model.norm
    gain, eps = norm.weight.detach().numpy(), norm.variance_epsilon
    W = plain.lm.lm_head.weight.detach().numpy()  # [V, d]
    x = X.astype(np.float64)
    h = x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + eps) * gain  # RMSNorm
    want = h @ W[ids].T
    got = lens_logits(runner.bridge, X, ids, batch_rows=16)  # several chunks per layer
    assert got.shape == (2, 50, 4)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_the_last_layers_lens_is_the_models_own_logits(tiny):
    runner, plain, data = tiny
    items = [data.understanding(i, 0) for i in range(4)]
    last = runner.n_layers - 1
    acts, _ = capture_residuals(runner, items, [last], batch_size=4, progress=False)
    batch = collate(items, data.cfg.n_patches, data.cfg.patch_size**2 * 3)
    with torch.no_grad():
        logits = plain(batch["input_ids"], batch["pixels"]).logits
    ids = [data.vocab[w] for w in ("circle", "square", "red")]
    want = logits[batch["roles"] == ROLE_IMAGE][:, ids].numpy()
    np.testing.assert_allclose(lens_logits(runner.bridge, acts, ids)[0], want, atol=1e-4)


def test_the_drawn_image_is_the_positions_whose_input_is_each_code(tiny):
    _, _, data = tiny
    draw, read = data.generation(2), data.understanding(2, 0)
    P = data.cfg.n_patches
    pos = alignment.drawn_positions(draw, read, P, encoder=True)
    # generation: <bos> prompt <task:generate> <bog> c0 .. c_{P-1} <eog>: code p is an input at
    # n_prefix + p (the position before it, <bog> for c0, is the one that predicts it)
    assert pos == list(range(draw.n_prefix, draw.n_prefix + P))
    offset = data.vocab.code_offset
    assert [draw.ids[t] - offset for t in pos] == data.codes[2].tolist()


def test_a_drawn_image_with_row_ends_is_matched_to_the_codes_it_read():
    """A model that reads an image as its codes (Emu3) closes each drawn row with a token that
    is no code; the drawn image is the generated tokens that spell the read codes in order."""
    codes, eol = [7, 7, 8, 9], 99  # a 2 x 2 grid
    read = Item([1, *codes, 2], [ROLE_SPECIAL, *[ROLE_IMAGE] * 4, ROLE_SPECIAL], 5, None, "x")
    drawn = [7, 7, eol, 8, 9, eol, 3, 4]
    ids, n = [1, 50, 51, *drawn], 3
    draw = Item(ids, [ROLE_SPECIAL] * n + [ROLE_GENERATED] * len(drawn), n, None, "generation")
    assert alignment.drawn_positions(draw, read, 4, encoder=False) == [3, 4, 6, 7]
    cut = Item(ids[:7], draw.roles[:7], n, None, "generation")  # a row and a half drawn
    with pytest.raises(ValueError, match="holds 3 of its 4 code tokens"):
        alignment.drawn_positions(cut, read, 4, encoder=False)


def _two_paths(seed: int = 0, n_images: int = 60, per_image: int = 6, d: int = 10):
    """Object patches of four classes seen by two paths: the draw path holds the read path's
    class signal rotated and shifted (a probe carries over only in part), plus its own noise."""
    rng = np.random.default_rng(seed)
    image_of = np.repeat(np.arange(n_images), per_image)
    y = rng.integers(1, 5, size=len(image_of))
    centres = rng.normal(0, 2.0, size=(5, d))
    read = centres[y] + rng.normal(size=(len(y), d))
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    rotated = 0.6 * read + 0.4 * read @ Q + 1.0
    draw = rotated + rng.normal(size=read.shape)

    def layers(a):  # a second layer: half the signal, more noise
        return np.stack([a, 0.5 * a + rng.normal(size=a.shape)]).astype(np.float32)

    return layers(read), layers(draw), y, image_of


def test_probe_transfer_is_scikit_learns_probe_scored_on_the_other_path(monkeypatch):
    read, draw, y, image_of = _two_paths()
    monkeypatch.setattr(alignment, "PROBE_CS", (1.0,))  # one C: no choice to compare
    train = image_of % 2 == 0
    got = alignment.probe_transfer(read, draw, y, image_of, train, n_boot=50, device="cpu")
    test = ~train
    for X, pairs in ((read, {"read": read, "read_to_draw": draw}),
                     (draw, {"draw": draw, "draw_to_read": read})):  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted = [
                make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=200)).fit(
                    x[train], y[train]
                )
                for x in X
            ]
        for key, Z in pairs.items():
            want = [balanced_accuracy_score(y[test], m.predict(z[test]))
                    for m, z in zip(fitted, Z, strict=True)]  # fmt: skip
            np.testing.assert_allclose(getattr(got, key).value, want, atol=0.02, err_msg=key)
    assert got.floor == 0.25 and got.n_classes == 4
    # the rotation costs the transfer, not the draw path's own probe
    assert got.read_to_draw.value[0] < got.read.value[0] - 0.1
    for scores in (got.read, got.read_to_draw, got.draw, got.draw_to_read):
        assert all(
            lo <= v <= hi for v, lo, hi in zip(scores.value, scores.lo, scores.hi, strict=True)
        )


def test_cross_path_cka_is_debiased_cka_per_layer_with_its_jackknife(monkeypatch):
    read, draw, _, image_of = _two_paths()
    got = alignment.cross_path_cka(read, draw, image_of)
    want = [debiased_linear_cka(r, d) for r, d in zip(read, draw, strict=True)]
    np.testing.assert_allclose(got.value, want, rtol=1e-9)
    assert all(lo < v < hi for v, lo, hi in zip(got.value, got.lo, got.hi, strict=True))
    same = alignment.cross_path_cka(read, read, image_of)
    np.testing.assert_allclose(same.value, 1.0, atol=1e-9)


def test_every_report_holds_reading_against_drawing(real_report):
    d = load_report(real_report).data
    assert "alignment" in d.suites and d.alignment.n_scenes == d.compare_config["n_probe_scenes"]
    assert not d.skipped  # our checkpoints read through the patch encoder: nothing left out
    L = d.model.n_layers
    for name in d.names:
        a = d.alignment.checkpoints[name]
        measures = [a.cka, a.transfer.read, a.transfer.read_to_draw, a.transfer.draw,
                    a.transfer.draw_to_read, *(a.lens[t].read for t in a.lens),
                    *(a.lens[t].draw for t in a.lens)]  # fmt: skip
        for m in measures:
            assert len(m.value) == len(m.lo) == len(m.hi) == L
            assert all(lo <= v <= hi for v, lo, hi in zip(m.value, m.lo, m.hi, strict=True))
        # fitted and scored on the read path: the probes suite's own class probe
        np.testing.assert_allclose(
            a.transfer.read.value, d.probes.targets[name]["semantic_class"].accuracy, atol=1e-12
        )
        assert a.transfer.floor == 1 / a.transfer.n_classes
        assert set(a.lens) == {"semantic_class", "color"}
        assert a.lens["semantic_class"].words == ["circle", "square", "triangle", "cross"]
        assert a.lens["color"].floor == 1 / a.lens["color"].n_classes
