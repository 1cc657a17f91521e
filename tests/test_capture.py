"""Capture through TransformerBridge against independent computations on the plain HF model."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch
from conftest import REFUSED_INSTALLS

from sgt_probe.capture.activations import ActivationStore, ShardWriter, capture_residuals
from sgt_probe.capture.bridge import pattern_name, resid_name, scores_name
from sgt_probe.capture.labels import object_patches, patch_labels
from sgt_probe.compare.suites.attention import attention_stats, text_word_types
from sgt_probe.data import DataSpec, make_world
from sgt_probe.data.text import word_types
from sgt_probe.model.config import ModelConfig
from sgt_probe.model.loading import Loaded, build_model
from sgt_probe.model.sequences import ROLE_GENERATED, ROLE_IMAGE, ROLE_TASK, ROLE_TEXT, collate
from sgt_probe.model.vocab import Vocab
from sgt_probe.sources.checkpoint import CheckpointSource
from sgt_probe.tokenizer import fit_tokenizer
from sgt_probe.tuning.taskdata import TaskData

SPEC = DataSpec()


@pytest.fixture(scope="module")
def world():
    return make_world(SPEC)


@pytest.fixture(scope="module")
def tokenizer(world):
    return fit_tokenizer(world, n_scenes=32, n_codes=32, seed=0)


def _loaded(world, tokenizer) -> Loaded:
    cfg = ModelConfig(d_model=32, n_layers=3, n_heads=2, d_ff=64, n_codes=32)
    vocab = Vocab.build(world.words(), cfg.n_codes)
    model = build_model(cfg, vocab, seed=0).eval()
    return Loaded(None, model, vocab, tokenizer, SPEC)


@pytest.fixture(scope="module")
def loaded(world, tokenizer):
    return _loaded(world, tokenizer)


@pytest.fixture(scope="module")
def plain(world, tokenizer):
    """The same weights (same seed), never wrapped: booting a bridge swaps the wrapped model's
    attention modules for bridge components, so references must come from a separate copy."""
    return _loaded(world, tokenizer).model


@pytest.fixture(scope="module")
def data(loaded, world):
    return TaskData(world, loaded.tokenizer, loaded.vocab, loaded.cfg, range(12), ("segmentation",))


@pytest.fixture(scope="module")
def runner(loaded):
    return CheckpointSource(loaded).runner()


def _batch(data, n=6):
    items = [data.understanding(i, 0) for i in range(n)]
    return items, collate(items, data.cfg.n_patches, data.cfg.patch_size**2 * 3)


def test_bridge_logits_equal_plain_hf_forward(plain, data, runner):
    _, batch = _batch(data)
    logits, _ = runner.run(batch)
    with torch.no_grad():
        expected = plain(batch["input_ids"], batch["pixels"]).logits
    assert torch.allclose(logits, expected, atol=1e-4)


def test_captured_residuals_equal_hf_hidden_states(plain, data, runner):
    items, batch = _batch(data)
    acts, meta = capture_residuals(runner, items, [0, 1], batch_size=4, progress=False)
    with torch.no_grad():
        hidden = plain(batch["input_ids"], batch["pixels"], output_hidden_states=True)
    sel = batch["roles"] == ROLE_IMAGE
    for row, layer in enumerate([0, 1]):  # the last entry of hidden_states is after the norm
        # hidden_states[0] is the embedding output; [layer + 1] follows block `layer`
        expected = hidden.hidden_states[layer + 1][sel].numpy()
        np.testing.assert_allclose(acts[row], expected, atol=1e-4)
    assert acts.shape[1] == len(items) * data.cfg.n_patches
    assert np.array_equal(np.unique(meta["item"]), np.arange(len(items)))


def test_captured_patterns_equal_hf_attentions(plain, data, runner):
    _, batch = _batch(data, 3)
    _, cache = runner.run(batch, [pattern_name(1)])
    with torch.no_grad():
        out = plain(batch["input_ids"], batch["pixels"], output_attentions=True)
    torch.testing.assert_close(cache[pattern_name(1)], out.attentions[1], atol=1e-5, rtol=1e-4)


def _norms(runner):
    from transformer_lens.model_bridge.generalized_components.normalization import (
        NormalizationBridge,
    )

    return [m for m in runner.bridge.modules() if isinstance(m, NormalizationBridge)]


def test_unhooked_norms_skip_their_statistics_and_keep_the_output(data, runner):
    """A norm whose hook_scale and hook_normalized nobody holds returns the model's own norm
    without computing them; TransformerLens' full path (forced by an observing hook) gives the
    same logits and residuals, bit for bit, and the observing hook fires."""
    _, batch = _batch(data)
    norms = _norms(runner)
    assert len(norms) == 2 * runner.n_layers + 1  # two per block and the final one
    names = [resid_name(1)]
    with torch.no_grad():
        before = runner.run(batch, names)
    seen: list[tuple] = []

    def observe(x, hook):
        seen.append(tuple(x.shape))

    spy = mock.Mock(wraps=norms[0].hook_scale.forward)
    with mock.patch.object(norms[0].hook_scale, "forward", spy):
        runner.run(batch, names)
    assert spy.call_count == 0  # the quiet path never reaches hook_scale
    hooks = [(name, observe) for name in runner.bridge.hook_dict if name.endswith(".hook_scale")]
    full = runner.run(batch, names, extra_hooks=hooks)
    assert len(seen) == len(hooks) == len(norms)
    assert torch.equal(full[0], before[0])
    assert torch.equal(full[1][names[0]], before[1][names[0]])


def test_sharded_capture_matches_memory_and_streams(tmp_path, data, runner):
    items = [data.understanding(i, 0) for i in range(8)]
    in_memory, meta = capture_residuals(runner, items, [1], batch_size=3, progress=False)
    writer = ShardWriter(tmp_path / "store", [1], shard_rows=100)
    store = capture_residuals(runner, items, [1], sink=writer, batch_size=3, progress=False)
    assert isinstance(store, ActivationStore) and store.n_shards > 1
    assert store.n_rows == in_memory.shape[1]
    acts, meta2 = ActivationStore(tmp_path / "store").load()
    np.testing.assert_allclose(acts, in_memory, atol=2e-3 * np.abs(in_memory).max())  # float16
    assert np.array_equal(meta["item"], meta2["item"])


def test_knockout_zeroes_text_to_image_edges_only(data, runner):
    _, batch = _batch(data, 4)
    roles = batch["roles"]
    text = (roles == ROLE_TEXT) | (roles == ROLE_TASK)
    image = roles == ROLE_IMAGE
    add = torch.zeros(text.shape + (text.shape[1],))
    add = add.masked_fill(text[:, :, None] & image[:, None, :], torch.finfo(torch.float32).min)

    def hook(scores, hook):
        return scores + add[:, None]

    _, plain = runner.run(batch, [pattern_name(1)])
    _, knocked = runner.run(batch, [pattern_name(1)], extra_hooks=[(scores_name(1), hook)])
    p, k = plain[pattern_name(1)], knocked[pattern_name(1)]
    blocked = (text[:, :, None] & image[:, None, :])[:, None].expand_as(k)
    assert torch.all(k[blocked] == 0)
    assert torch.all(p[blocked] > 0)
    untouched = (~text)[:, None, :, None].expand_as(k)  # rows of non-text queries
    assert torch.equal(k[untouched], p[untouched])
    assert torch.allclose(k.sum(-1), torch.ones_like(k.sum(-1)), atol=1e-5)


def test_knockout_in_the_models_own_attention_equals_the_bridge_hook_knockout(loaded, data, runner):
    """The knockout suite blocks text->image edges with a mask on the model's own attention,
    reading each image context once for every window; blocking them through the bridge's
    hook_attn_scores on whole sequences (an independent computation) gives the same
    probabilities, and the unedited scores are answer_probs'."""
    from sgt_probe.compare.suites.knockout import text_to_image_block
    from sgt_probe.model.generate import answer_probs, answer_probs_edited

    model, vocab = loaded.model, data.vocab
    items = [
        data.understanding(i, q) for i in range(6) for q in range(len(data.scenes[i].questions))
    ]
    choices = [data.scenes[it_scene].questions[q].choices
               for it_scene in range(6) for q in range(len(data.scenes[it_scene].questions))]  # fmt: skip
    p_base, c_base = answer_probs(model, items, vocab, choices)
    windows = [(0, 0), (1, 2)]
    edits = [None] + [(range(first, last + 1), text_to_image_block) for first, last in windows]
    (p_none, c_none), *cached = answer_probs_edited(model, items, vocab, choices, edits)
    np.testing.assert_allclose(p_none, p_base, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.concatenate(c_none), np.concatenate(c_base), rtol=1e-5, atol=1e-7)
    for (first, last), (p_cached, _) in zip(windows, cached, strict=True):

        def forward(batch, first=first, last=last):
            add = text_to_image_block(batch["roles"], batch["roles"])
            hooks = [(scores_name(layer), lambda s, hook: s + add.to(s.dtype))
                     for layer in range(first, last + 1)]  # fmt: skip
            return runner.run(batch, (), extra_hooks=hooks)[0]

        hooked, _ = answer_probs(model, items, vocab, choices, forward=forward)
        np.testing.assert_allclose(p_cached, hooked, rtol=1e-4, atol=1e-6)
        assert np.abs(p_cached - p_base).max() > 1e-4  # the knockout did something


def test_attention_suite_masses_partition_text_queries(data, runner):
    items = [
        data.understanding(i, q) for i in range(6) for q in range(len(data.scenes[i].questions))
    ]
    scenes = [data.scenes[i] for i in range(6) for _ in data.scenes[i].questions]
    qas = [q for i in range(6) for q in data.scenes[i].questions]
    objects = [qa.objects[0] if qa.objects else 0 for qa in qas]
    seg = [data.proxy("segmentation", i) for i in range(4)]
    out, _ = attention_stats(runner, items, scenes, objects, seg, n_boot=50)
    mass = {k: np.array(v) for k, v in out.mass.items()}
    assert mass["text->image"].shape == (3, 2)
    for kind in ("text->image", "image->image", "text->text", "generated->input", "sink"):
        assert np.all((mass[kind] >= 0) & (mass[kind] <= 1 + 1e-6)), kind
    # text queries only see <bos>, <boi>, image, <eoi> and text keys: the masses partition 1
    specials = 1 - mass["text->image"] - mass["text->text"]
    assert np.all(specials >= mass["sink"] - 1e-6)
    assert 0 < out.grounded.chance < 1 and len(out.grounded.precision) == 3


def test_allocation_is_read_from_the_model_s_own_patterns(data, runner, loaded, world):
    """Fig. 8's measures on a tiny model, against patterns taken straight from one hooked pass:
    text->image per layer is the head-averaged mass; a generation item's word-type shares are
    recomputed for its prompt's words by hand."""
    items = [
        data.understanding(i, q) for i in range(4) for q in range(len(data.scenes[i].questions))
    ]
    scenes = [data.scenes[i] for i in range(4) for _ in data.scenes[i].questions]
    objects = [0] * len(items)
    gen = [data.generation(i) for i in range(4)]
    vocab = loaded.vocab
    source = SimpleNamespace(token_texts=vocab.decode)
    qa_types = text_word_types(source, items, world.shapes, world.colors)
    gen_types = text_word_types(source, gen, world.shapes, world.colors)
    out, text_image = attention_stats(
        runner,
        items,
        scenes,
        objects,
        [],
        n_boot=50,
        qa_types=qa_types,
        gen_items=gen,
        gen_types=gen_types,
    )
    alloc = out.allocation
    np.testing.assert_allclose(alloc.text_image, np.mean(out.mass["text->image"], axis=1))
    assert text_image.shape == (3, len(items))
    for shares in (alloc.cue_to_question, alloc.generated_to_prompt):
        total = np.sum([shares.share[t] for t in shares.share], axis=0)
        np.testing.assert_allclose(total, 1.0, rtol=1e-6)
    # item 0 of the generation set, by hand: its prompt's words, the generated queries
    _, _, batch = next(runner.batches(gen[:1], 1))
    _, cache = runner.run(batch, ["blocks.2.attn.hook_pattern"])
    p = cache["blocks.2.attn.hook_pattern"][0].mean(0).double().numpy()  # [T, T]
    words = vocab.decode(gen[0].ids)
    prompt = [i for i, r in enumerate(gen[0].roles) if r == ROLE_TEXT]
    kinds = word_types([words[i] for i in prompt], world.shapes, world.colors)
    drawn = [i for i, r in enumerate(gen[0].roles) if r == ROLE_GENERATED]
    mass = {k: sum(p[q, prompt[j]] for q in drawn for j, kk in enumerate(kinds) if kk == k)
            for k in set(kinds)}  # fmt: skip
    total = sum(mass.values())
    one = attention_stats(
        runner,
        items[:1],
        scenes[:1],
        [0],
        [],
        n_boot=10,
        qa_types=qa_types[:1],
        gen_items=gen[:1],
        gen_types=gen_types[:1],
    )[0].allocation
    for kind, m in mass.items():
        assert one.generated_to_prompt.share[kind][2] == pytest.approx(m / total, rel=1e-5)


def test_object_patches_follow_the_mask(world):
    scene = world.scene(3)
    obj = scene.objects[0]
    m = object_patches(scene, obj.instance_id, 4)  # [P]
    grid = m.reshape(8, 8)
    for r in range(8):
        for c in range(8):
            patch = scene.instances[4 * r : 4 * r + 4, 4 * c : 4 * c + 4]
            assert grid[r, c] == bool((patch == obj.instance_id).any())
    labels = patch_labels([scene], 4, world.colors)
    assert labels["class"].shape == (1, 64)


@pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is not None,
    reason="TransformerLens only tries to install torchvision when it is missing",
)
def test_installs_blocked_catches_transformer_lens_installing_torchvision():
    # the very call `boot` keeps TransformerLens from making: the guard must see (and stop) it
    from transformer_lens.model_bridge.sources.transformers.helpers import _ensure_torchvision

    before = len(REFUSED_INSTALLS)
    assert _ensure_torchvision() is False
    tried = REFUSED_INSTALLS[before:]
    assert len(tried) == 1 and "pip install torchvision" in tried[0]
    del REFUSED_INSTALLS[before:]  # seen and refused, as it should be: not this test's failure
