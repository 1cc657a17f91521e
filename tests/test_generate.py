"""Inference helpers against their direct computation: answer scoring that reads a shared image
context once equals a full pass per question, and decoding does not depend on the batch."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
from helpers_train import SPEC, TINY_MODEL, single_thread

from sgt_probe.data import make_world
from sgt_probe.model.config import ModelConfig
from sgt_probe.model.generate import answer_probs, context_groups, generate_codes
from sgt_probe.model.loading import build_model
from sgt_probe.model.vocab import Vocab
from sgt_probe.tokenizer import VQTokenizer
from sgt_probe.tuning.taskdata import TaskData


@pytest.fixture(scope="module")
def setup():
    world = make_world(SPEC)
    vocab = Vocab.build(world.words(), TINY_MODEL["n_codes"])
    model = build_model(ModelConfig(**TINY_MODEL), vocab, seed=5).eval()
    images = np.stack([s.image for s in world.scenes(0, 8)])
    tokenizer = VQTokenizer(n_codes=TINY_MODEL["n_codes"], seed=1).fit(images)
    data = TaskData(world, tokenizer, vocab, model.cfg, range(100, 106), ["segmentation"])
    return model, vocab, data


def _questions(data):
    pairs = [(i, q) for i in range(len(data)) for q in range(len(data.scenes[i].questions))]
    items = [data.understanding(i, q) for i, q in pairs]
    return pairs, items, [data.scenes[i].questions[q].choices for i, q in pairs]


def test_a_shared_context_is_read_once_with_the_same_answer_probabilities(setup):
    model, vocab, data = setup
    pairs, items, choices = _questions(data)
    assert [len(g) for g in context_groups(items)] == [len(s.questions) for s in data.scenes]

    def full(batch):  # every question's whole sequence, image included
        return model(batch["input_ids"], batch["pixels"]).logits

    with single_thread():
        p_full, c_full = answer_probs(model, items, vocab, choices, forward=full)
        p_shared, c_shared = answer_probs(model, items, vocab, choices, batch_size=5)
    np.testing.assert_allclose(p_shared, p_full, rtol=1e-5, atol=1e-7)
    for a, b in zip(c_shared, c_full, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_decoding_does_not_depend_on_batch_size_or_batch_mates(setup, temperature):
    model, vocab, data = setup
    items = [data.generation(i, with_target=False) for i in range(len(data))]
    items += [data.proxy("segmentation", i, with_target=False) for i in range(len(data))]
    kw = {"temperature": temperature, "top_k": 8, "seed": 3}
    with single_thread():
        whole = generate_codes(model, items, vocab, batch_size=64, **kw)
        small = generate_codes(model, items, vocab, batch_size=2, **kw)
        alone = generate_codes(model, items[3:4], vocab, **kw)
    np.testing.assert_array_equal(small, whole)
    if temperature == 0:  # a sampled item's draws follow its position in `items`
        np.testing.assert_array_equal(alone[0], whole[3])
    assert whole.min() >= 0 and whole.max() < vocab.n_codes


def test_guidance_picks_from_the_conditional_logits_pushed_away_from_the_unconditional(setup):
    """Greedy decoding with classifier-free guidance against full forward passes (no KV cache)
    over each stream's prefix and the codes drawn so far; guidance 1 is plain decoding."""
    import torch

    from sgt_probe.model.sequences import collate

    model, vocab, data = setup
    items = [data.generation(i, with_target=False) for i in range(3)]
    unconditional = [data.generation(i, with_target=False, unconditional=True) for i in range(3)]
    n = model.cfg.n_patches
    with single_thread():
        plain = generate_codes(model, items, vocab)
        same = generate_codes(model, items, vocab, unconditional=unconditional, guidance=1.0)
        guided = generate_codes(model, items, vocab, unconditional=unconditional, guidance=3.0)
    np.testing.assert_array_equal(same, plain)
    assert (guided != plain).any()

    code_ids = torch.arange(vocab.code_offset, vocab.code_offset + vocab.n_codes)

    def next_logits(item, drawn):
        batch = collate([item], n, model.cfg.patch_size**2 * 3)
        ids = torch.cat([batch["input_ids"][0], code_ids[torch.as_tensor(drawn, dtype=torch.long)]])
        with torch.no_grad():
            return model(ids[None], batch["pixels"]).logits[0, -1, code_ids]

    for b in range(3):
        want = []
        for _ in range(8):  # the first codes suffice to follow the two streams
            c, u = next_logits(items[b], want), next_logits(unconditional[b], want)
            want.append(int((u + 3.0 * (c - u)).argmax()))
        assert guided[b, :8].tolist() == want


def test_a_runner_boots_over_a_twin_and_leaves_the_model_plain(setup):
    """A checkpoint's runner boots its bridge over a twin of the model sharing its weights:
    the model's KV-cached scoring and decoding give what they gave before, the runner's logits
    are the model's, and an edit of a weight is seen by both."""
    import torch

    from sgt_probe.model.generate import bridged
    from sgt_probe.model.loading import Loaded
    from sgt_probe.model.sequences import collate
    from sgt_probe.sources.checkpoint import CheckpointSource

    _, vocab, data = setup
    model = build_model(ModelConfig(**TINY_MODEL), vocab, seed=5).eval()  # its own: edited below
    pairs, items, choices = _questions(data)
    gen = [data.generation(i, with_target=False) for i in range(3)]
    with single_thread():
        before, _ = answer_probs(model, items, vocab, choices)
        codes = generate_codes(model, gen, vocab)
        runner = CheckpointSource(Loaded(None, model, vocab, None, SPEC)).runner()
        twin = runner.bridge.original_model
        assert twin is not model.lm and not bridged(model)
        assert any(type(m).__module__.startswith("transformer_lens") for m in twin.modules())
        after, _ = answer_probs(model, items, vocab, choices)
        np.testing.assert_array_equal(generate_codes(model, gen, vocab), codes)
        batch = collate(items[:3], model.cfg.n_patches, model.cfg.patch_size**2 * 3)
        logits, _ = runner.run(batch)
        with torch.no_grad():
            torch.testing.assert_close(logits, model(batch["input_ids"], batch["pixels"]).logits,
                                       atol=1e-4, rtol=1e-4)  # fmt: skip
            model.lm.lm_head.weight.mul_(2.0)  # shared: the runner sees the edit
            logits2, _ = runner.run(batch)
            torch.testing.assert_close(logits2, model(batch["input_ids"], batch["pixels"]).logits,
                                       atol=1e-4, rtol=1e-4)  # fmt: skip
        assert not torch.allclose(logits2, logits)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-7)


def test_after_a_bridge_is_booted_over_the_model_scoring_runs_whole_sequences_and_decoding_refuses(
    setup,
):
    from sgt_probe.capture.bridge import boot

    _, vocab, data = setup
    model = build_model(ModelConfig(**TINY_MODEL), vocab, seed=5).eval()  # its own: booted below
    pairs, items, choices = _questions(data)
    with single_thread(), tempfile.TemporaryDirectory() as d:
        before, _ = answer_probs(model, items, vocab, choices)
        boot(model.lm, vocab.save_hf_tokenizer(d))  # swaps the model's own attention
        after, _ = answer_probs(model, items, vocab, choices)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-7)
    with pytest.raises(RuntimeError, match="before booting"):
        generate_codes(model, [data.generation(0, with_target=False)], vocab)
