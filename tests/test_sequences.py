"""Task sequences: dialogues and captions, targets from token roles, the training stream's
batches, and the per-task weighted loss."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers_train import SPEC, TINY_MODEL, _tokenizer

from sgt_probe.data import make_world
from sgt_probe.data.scene import SceneObject
from sgt_probe.data.text import caption, region
from sgt_probe.model.config import ModelConfig, TrainConfig
from sgt_probe.model.sequences import (
    ROLE_ANSWER,
    ROLE_GENERATED,
    collate,
    dialogue_item,
    n_targets,
    understanding_item,
)
from sgt_probe.model.vocab import TASKS, Vocab
from sgt_probe.tuning.taskdata import FEW_LABEL, TrainStream, batch_plan


@pytest.fixture(scope="module")
def stream():
    world = make_world(SPEC)
    cfg = ModelConfig(**TINY_MODEL)
    vocab = Vocab.build(world.words(), cfg.n_codes)
    return TrainStream(world, _tokenizer(SPEC, cfg.n_codes, 0), vocab, cfg, world.split("train"))


def test_a_dialogue_targets_every_answer_and_nothing_else(stream):
    vocab, scene = stream.vocab, stream.world.scene(3)
    turns = [(q.question, q.answer) for q in scene.questions]
    item = dialogue_item(vocab, np.zeros(64, int), None, turns, "patch")
    batch = collate([item], 64, 48)
    targets = batch["targets"][0]
    want = [vocab.encode_words(a)[0] for _, a in turns]
    assert targets[targets != -100].tolist() == want  # each answer, in order
    answers = [t for t, r in enumerate(item.roles) if r == ROLE_ANSWER]
    assert (targets != -100).nonzero()[:, 0].tolist() == [t - 1 for t in answers]
    assert n_targets(item) == len(turns)
    assert item.n_prefix == answers[0]
    # the first turn is the one-question item evaluation asks
    single = understanding_item(vocab, np.zeros(64, int), None, *turns[0], "patch")
    assert item.ids[: len(single.ids)] == single.ids


def test_generation_targets_are_its_codes_and_end(stream):
    data = stream.batch(replace(TrainConfig(), generation_share=1, understanding_share=0,
                                caption_share=0, batch_size=2), 0)  # fmt: skip
    batch = collate(data, 64, 48)
    for b, item in enumerate(data):
        generated = [t for t, r in enumerate(item.roles) if r == ROLE_GENERATED]
        assert len(generated) == 65  # 64 codes and <eog>
        got = batch["targets"][b]
        assert got[got != -100].tolist() == [item.ids[t] for t in generated]


def test_prompt_dropout_leaves_out_the_prompt_of_that_share_of_generation_items(stream):
    gen_only = replace(TrainConfig(), generation_share=1, understanding_share=0, caption_share=0,
                       batch_size=400)  # fmt: skip
    task = stream.vocab[TASKS["generate"]]

    def n_prompt_words(items):  # the tokens between <bos> and the generate task token
        return [it.ids.index(task) - 1 for it in items]

    assert min(n_prompt_words(stream.batch(gen_only, 0))) > 0
    dropped = n_prompt_words(stream.batch(replace(gen_only, prompt_dropout=0.25), 0))
    assert 0.18 < dropped.count(0) / len(dropped) < 0.32
    kept = stream.batch(replace(gen_only, prompt_dropout=0.25), 0)  # the same draw every time
    assert n_prompt_words(kept) == dropped


def _obj(shape, color, center):
    return SceneObject(1, shape, color, 1, (0, 0, 1, 1), 1, center)


def test_caption_names_every_object_where_then_what_in_reading_order():
    assert region((2.0, 2.0), 32) == "top left"
    assert region((16.0, 16.0), 32) == "center"
    assert region((30.0, 16.0), 32) == "bottom"
    objects = [_obj("square", "blue", (28.0, 3.0)), _obj("circle", "red", (4.0, 20.0)),
               _obj("cross", "green", (5.0, 2.0)), _obj("seven", "unknown", (15.0, 15.0))]  # fmt: skip
    assert caption(objects, ["red", "green", "blue"], 32) == (
        "top left green cross and top red circle and center seven and bottom left blue square"
    )


def test_batches_are_a_pure_function_of_seed_and_step(stream):
    tcfg = TrainConfig(batch_size=6, seed=4)
    a, b = stream.batch(tcfg, 7), stream.batch(tcfg, 7)
    assert [it.ids for it in a] == [it.ids for it in b]
    assert [it.ids for it in stream.batch(tcfg, 8)] != [it.ids for it in a]


def test_ranks_split_the_one_process_batch(stream):
    tcfg = TrainConfig(batch_size=6, seed=1)
    whole = [(it.task, it.ids) for it in stream.batch(tcfg, 3)]
    shares = [stream.batch(tcfg, 3, rank, 2) for rank in range(2)]
    assert [(it.task, it.ids) for it in shares[0]] == whole[0::2]
    assert [(it.task, it.ids) for it in shares[1]] == whole[1::2]


def test_the_batch_plan_follows_the_mix():
    tcfg = TrainConfig(batch_size=4000, understanding_share=2, caption_share=1,
                       generation_share=1)  # fmt: skip
    tasks = [t for _, t in batch_plan(tcfg, 0, 10)]
    share = {t: tasks.count(t) / len(tasks) for t in set(tasks)}
    assert share == pytest.approx({"understanding": 0.5, "caption": 0.25, "generation": 0.25},
                                  abs=0.03)  # fmt: skip
    tuned = replace(tcfg, proxy="depth", proxy_ratio=0.25)
    tasks = [t for _, t in batch_plan(tuned, 0, 10)]
    assert tasks[:1000] == ["depth"] * 1000 and "depth" not in tasks[1000:]


def test_proxy_and_few_label_items_draw_from_their_own_pools():
    """A proxy-data budget restricts the proxy items' scenes, the few-label arm adds its own
    items on its own scenes; neither moves the rest of the plan."""
    tcfg = TrainConfig(batch_size=60, proxy="segmentation", proxy_ratio=2 / 3, seed=3)
    plan = batch_plan(tcfg, 5, 1000)
    budget = batch_plan(replace(tcfg, proxy_scenes=7), 5, 1000)
    assert [t for _, t in budget] == [t for _, t in plan]
    assert {s for s, t in budget if t == "segmentation"} <= set(range(7))
    assert [p for p in budget if p[1] != "segmentation"] == [
        p for p in plan if p[1] != "segmentation"
    ]
    few = batch_plan(replace(tcfg, few_label_scenes=5, few_label_share=0.25), 5, 1000)
    tasks = [t for _, t in few]
    assert tasks.count(FEW_LABEL) == 15 and tasks[-15:] == [FEW_LABEL] * 15
    assert tasks.count("segmentation") == 30  # 2/3 of the other 45
    assert {s for s, t in few if t == FEW_LABEL} <= set(range(5))


def test_dialogues_never_ask_the_few_label_family_and_its_items_ask_only_it(stream):
    tcfg = TrainConfig(batch_size=24, understanding_share=1, caption_share=0,
                       generation_share=0, seed=4)  # fmt: skip
    decoded = [stream.vocab.decode(it.ids) for it in stream.batch(tcfg, 0)]
    assert decoded and not any("what" in words for words in decoded)
    few = replace(tcfg, few_label_scenes=3, few_label_share=0.5)
    items = stream.batch(few, 0)
    asked = [stream.vocab.decode(it.ids) for it in items[12:]]
    assert all(" ".join(w).count("<task:answer>") == 1 and "what" in w for w in asked)
    assert all(it.task == "understanding" for it in items)


def test_the_loss_is_the_weighted_mean_of_task_means(stream, tmp_path):
    """One step of the real loop, against the loss computed by hand from the same batch."""
    from sgt_probe.model.loading import build_model
    from sgt_probe.tuning.loop import item_losses, train_loop

    tcfg = TrainConfig(batch_size=8, steps=1, warmup=1, lr=1e-9, ckpt_every=1, seed=2,
                       understanding_weight=3.0, caption_weight=0.5, generation_weight=1.0)  # fmt: skip
    model = build_model(stream.cfg, stream.vocab, seed=0)
    items = stream.batch(tcfg, 0)
    with torch.no_grad():
        batch = collate(items, *stream.patch_shape)
        model.lm.set_attn_implementation("sdpa")
        sums, counts = item_losses(model(batch["input_ids"], batch["pixels"]).logits,
                                   batch["targets"])  # fmt: skip
    tasks = sorted({it.task for it in items})
    rows = list(zip(sums.tolist(), counts.tolist(), [it.task for it in items], strict=True))
    means = {t: sum(s for s, _, k in rows if k == t) / sum(c for _, c, k in rows if k == t)
             for t in tasks}  # fmt: skip
    weights = {t: tcfg.task_weight(t) for t in tasks}
    want = sum(weights[t] * means[t] for t in tasks) / sum(weights.values())
    # the loss is what is checked, not the file: the step's checkpoint is not written
    history = train_loop(model, stream, tcfg, tmp_path / "one.pt", {}, progress=False,
                         save=lambda out, contents: None)  # fmt: skip
    assert len(tasks) >= 2
    assert history[0]["loss"] == pytest.approx(want, rel=1e-4)
    for t in tasks:
        assert history[0][f"loss/{t}"] == pytest.approx(means[t], rel=1e-4)
