"""Base training and SGT tuning learn, refuse misuse, and stop cleanly on a diverging run."""

from __future__ import annotations

import json
import math
from statistics import fmean

import helpers_train
import pytest
import torch
from helpers_train import SPEC, TINY_MODEL, TINY_TRAIN, _fast, shared_base, train_tiny, tune_tiny

from sgt_probe.checkpoint import CheckpointError, Origin, load_checkpoint, save_checkpoint
from sgt_probe.model.config import (
    PRESETS,
    ModelConfig,
    TrainConfig,
    base_model_config,
    preset,
    replace,
)
from sgt_probe.model.loading import load_model
from sgt_probe.tuning import runner
from sgt_probe.tuning.loop import TrainingError, get_lr

WINDOW = 30  # steps averaged at each end of a run: single batches of 8 are noisy


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return shared_base(tmp_path_factory)


@pytest.fixture(scope="module")
def tuned(base, tmp_path_factory):
    return tune_tiny(base, tmp_path_factory.mktemp("tune") / "seg.pt")


def early_late(history: list[dict], key: str) -> tuple[float, float]:
    values = [r[key] for r in history if key in r]
    assert len(values) >= 2 * WINDOW, f"{key} logged on only {len(values)} steps"
    return fmean(values[:WINDOW]), fmean(values[-WINDOW:])


@pytest.mark.parametrize("task", ["understanding", "generation"])
def test_base_training_lowers_each_task_loss(base, task):
    ckpt = load_checkpoint(base)
    assert ckpt.step == len(ckpt.history) == 300
    early, late = early_late(ckpt.history, f"loss/{task}")
    assert late < 0.8 * early, (early, late)


def test_tuning_with_a_proxy_lowers_the_proxy_loss(tuned, base):
    ckpt = load_checkpoint(tuned)
    assert (ckpt.stage, ckpt.proxy) == ("tune", "segmentation")
    assert ckpt.parent.step == load_checkpoint(base).step
    # The default (paper) recipe trains question dialogues alongside the proxy, nothing else;
    # each task is logged on its own.
    logged = {k for record in ckpt.history for k in record if k.startswith("loss/")}
    assert logged == {"loss/understanding", "loss/segmentation"}
    early, late = early_late(ckpt.history, "loss/segmentation")
    assert late < 0.5 * early, (early, late)


def test_tune_refuses_an_existing_out_without_resume(base, tuned):
    before = tuned.read_bytes()
    with pytest.raises(FileExistsError, match="--resume"):
        tune_tiny(base, tuned)
    assert tuned.read_bytes() == before


def test_tune_refuses_a_tuned_checkpoint_as_base(tuned, tmp_path):
    with pytest.raises(CheckpointError, match="tune a base"):
        tune_tiny(tuned, tmp_path / "again.pt")
    assert not (tmp_path / "again.pt").exists()


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    # lr 1e6 (3e4 at the first warmup step) inflates the weights until, a few steps in, the
    # forward or backward pass overflows; checkpointing every step means good checkpoints exist
    # by then.
    out = tmp_path / "diverge.pt"
    with pytest.raises(TrainingError) as err:
        train_tiny(out, lr=1e6, warmup=30, steps=100, ckpt_every=1)
    msg = str(err.value)
    assert "\n" not in msg
    assert "nan" in msg or "inf" in msg
    ckpt = load_checkpoint(out)
    assert 1 <= ckpt.step < 100
    assert f"{out} (step {ckpt.step})" in msg
    assert len(ckpt.history) == ckpt.step
    assert all(math.isfinite(r["loss"]) for r in ckpt.history)
    assert all(torch.isfinite(w).all() for w in ckpt.state_dict.values())


def test_a_fresh_run_never_touches_an_earlier_runs_log(tmp_path):
    out = tmp_path / "run.pt"
    log = out.with_suffix(".log.jsonl")
    log.write_text('{"step": 10, "loss": 1.0}\n')
    with pytest.raises(FileExistsError, match="--resume") as err:
        train_tiny(out, steps=2)
    assert str(err.value).startswith(f"{log} exists")
    assert log.read_text() == '{"step": 10, "loss": 1.0}\n' and not out.exists()


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path):
    run = {"steps": 4, "ckpt_every": 2}
    out = train_tiny(tmp_path / "run.pt", **run)
    ckpt = load_checkpoint(out)
    save_checkpoint(out, replace(ckpt, step=2))  # as if killed half way
    before = out.read_bytes()
    with _fast(), pytest.raises(CheckpointError, match="another model config; cannot resume"):
        runner.train_base(
            SPEC, out, "tiny", ModelConfig.overrides(**TINY_MODEL, vision_input="vq"),
            TrainConfig.overrides(**{**TINY_TRAIN, **run}), resume=True, device="cpu",
            progress=False,
        )  # fmt: skip
    assert out.read_bytes() == before


def test_resume_with_more_steps_extends_a_finished_run(tmp_path):
    run = {"steps": 4, "ckpt_every": 2, "log_every": 1, "warmup": 1}
    out = train_tiny(tmp_path / "run.pt", **run)
    first = load_checkpoint(out)
    train_tiny(out, resume=True, **{**run, "steps": 6})
    ckpt = load_checkpoint(out)
    assert ckpt.step == 6 and ckpt.train_config["steps"] == 6
    assert ckpt.history[:4] == first.history  # the first four steps are kept as they were
    longer = replace(preset("tiny").train, **{**TINY_TRAIN, **run, "steps": 6})
    assert [r["lr"] for r in ckpt.history[4:]] == [get_lr(s, longer) for s in (4, 5)]
    logged = [
        json.loads(ln)["step"] for ln in out.with_suffix(".log.jsonl").read_text().splitlines()
    ]
    assert logged == [1, 2, 3, 4, 5, 6]


def test_resume_reads_a_run_saved_before_a_training_option_existed(tmp_path):
    """An option added to TrainConfig since a run started takes the value asked for when the
    run is extended (the shipped bases began dropping prompts so); the options the run saved
    must still match."""
    run = {"steps": 4, "ckpt_every": 2}
    out = train_tiny(tmp_path / "run.pt", **run)
    ckpt = load_checkpoint(out)
    old = {k: v for k, v in ckpt.train_config.items() if k != "prompt_dropout"}
    save_checkpoint(out, replace(ckpt, train_config=old))
    with pytest.raises(CheckpointError, match="another training config; cannot resume"):
        train_tiny(out, resume=True, **{**run, "steps": 6, "lr": 1e-4})
    train_tiny(out, resume=True, **{**run, "steps": 6, "prompt_dropout": 0.1})
    ckpt = load_checkpoint(out)
    assert (ckpt.step, ckpt.train_config["prompt_dropout"]) == (6, 0.1)
    with pytest.raises(CheckpointError, match="another training config; cannot resume"):
        train_tiny(out, resume=True, **{**run, "steps": 8})  # it has the option now


def test_resume_refuses_fewer_steps_than_done_and_an_exported_run(tmp_path):
    run = {"steps": 4, "ckpt_every": 2}
    out = train_tiny(tmp_path / "run.pt", **run)
    before = out.read_bytes()
    with pytest.raises(CheckpointError, match="at step 4, past --steps 3"):
        train_tiny(out, resume=True, **{**run, "steps": 3})
    ckpt = load_checkpoint(out)
    save_checkpoint(out, replace(ckpt, optimizer=None, rng=None))
    exported = out.read_bytes()
    with pytest.raises(CheckpointError, match="exported .* cannot resume"):
        train_tiny(out, resume=True, **{**run, "steps": 6})
    assert out.read_bytes() == exported != before


def test_a_preset_s_world_settings_apply_to_that_world_only(monkeypatch):
    small = preset("small")
    digits_model = replace(small.model, n_codes=1024, n_layers=3)
    monkeypatch.setitem(PRESETS, "small", replace(small, world_models={"digits": digits_model}))
    shapes, digits = base_model_config("small", "shapes"), base_model_config("small", "digits")
    assert (shapes.n_codes, shapes.n_layers) == (small.model.n_codes, small.model.n_layers)
    assert (digits.n_codes, digits.n_layers) == (1024, 3)
    two = ModelConfig.overrides(n_layers=2)
    assert base_model_config("small", "digits", two).n_layers == 2  # options win


def _start(init, out, captured=None, monkeypatch=None, **model):
    if captured is not None:  # stop before the first step, keeping the model it would train
        monkeypatch.setattr(runner, "train_loop", lambda model, *a, **k: captured.append(model))
    with _fast():
        return runner.train_base(
            SPEC, out, "tiny", ModelConfig.overrides(**{**TINY_MODEL, **model}),
            TrainConfig.overrides(**{**TINY_TRAIN, "steps": 2}), device="cpu", progress=False,
            init=init,
        )  # fmt: skip


TOKEN_TABLES = ("lm.model.embed_tokens.weight", "lm.lm_head.weight")


@pytest.mark.parametrize("n_codes", [32, TINY_MODEL["n_codes"]])
def test_a_base_given_another_tokenizer_keeps_all_but_its_image_codes(
    base, tmp_path, monkeypatch, n_codes
):
    captured = []
    _start(base, tmp_path / "a.pt", captured, monkeypatch, n_codes=n_codes,
           tokenizer_scene_repeat=2)  # fmt: skip
    old, new = load_checkpoint(base).state_dict, captured[0].state_dict()
    words = load_model(base).vocab.code_offset
    assert set(TOKEN_TABLES) <= set(old)
    for name, value in old.items():
        if name not in TOKEN_TABLES:
            assert torch.equal(new[name], value), name
            continue
        # words carried over; the code rows are fresh, also where the tables' shapes agree
        assert new[name].shape[0] == words + n_codes, name
        assert torch.equal(new[name][:words], value[:words]), name
        assert not torch.isclose(new[name][words:], value[words : words + n_codes]).all(-1).any()
    monkeypatch.undo()
    out = _start(base, tmp_path / "b.pt", n_codes=32)
    assert load_checkpoint(out).init == Origin(str(base), 300)
    assert load_model(out).cfg.n_codes == 32


def test_a_base_with_the_same_tokenizer_is_continued_with_its_codebook(base, tmp_path, monkeypatch):
    def no_fit(*a, **k):
        raise AssertionError("a continued base fitted a tokenizer")

    # _start fits through helpers_train._cached_fit (in place of runner.fit_tokenizer)
    monkeypatch.setattr(helpers_train, "_cached_fit", no_fit)
    captured = []
    _start(base, tmp_path / "a.pt", captured, monkeypatch)
    old, new = load_checkpoint(base).state_dict, captured[0].state_dict()
    assert all(torch.equal(new[name], value) for name, value in old.items())
    monkeypatch.undo()
    monkeypatch.setattr(helpers_train, "_cached_fit", no_fit)
    out = _start(base, tmp_path / "b.pt")
    assert load_model(out).tokenizer.fingerprint() == load_model(base).tokenizer.fingerprint()
    assert load_checkpoint(out).init == Origin(str(base), 300)


def test_a_base_from_a_world_that_gained_words_keeps_every_row_by_token(
    base, tmp_path, monkeypatch
):
    """A base trained before a question family added words (say "more" and "than") continues
    with each old token's rows moved to the token's new id; the new words start fresh."""
    ckpt, vocab = load_checkpoint(base), load_model(base).vocab
    gained = ("more", "than")
    tokens = [t for t in vocab.tokens if t not in gained]
    keep = torch.tensor([vocab[t] for t in tokens])
    old_sd = {k: (v[keep] if k in TOKEN_TABLES else v) for k, v in ckpt.state_dict.items()}
    old = replace(ckpt, state_dict=old_sd, vocab={"tokens": tokens, "n_codes": vocab.n_codes},
                  model_config={**ckpt.model_config, "vocab_size": len(tokens)})  # fmt: skip
    save_checkpoint(tmp_path / "old.pt", old)
    captured = []
    _start(tmp_path / "old.pt", tmp_path / "a.pt", captured, monkeypatch)
    new = captured[0].state_dict()
    for name in TOKEN_TABLES:
        for i, token in enumerate(tokens):
            assert torch.equal(new[name][vocab[token]], old_sd[name][i]), (name, token)
        for word in gained:  # fresh: not the row the full base learned for it
            assert not torch.equal(new[name][vocab[word]], ckpt.state_dict[name][vocab[word]])
    lost = replace(
        old,
        vocab={
            "tokens": [*tokens[: -vocab.n_codes], "zebra", *tokens[-vocab.n_codes :]],
            "n_codes": vocab.n_codes,
        },
        model_config={**old.model_config, "vocab_size": len(tokens) + 1},
        state_dict={k: (torch.cat([v[:1], v]) if k in TOKEN_TABLES else v)
                    for k, v in old_sd.items()},
    )  # fmt: skip
    save_checkpoint(tmp_path / "lost.pt", lost)
    with pytest.raises(CheckpointError, match="words this world lacks \\(zebra\\)"):
        _start(tmp_path / "lost.pt", tmp_path / "b.pt")


def test_a_constant_schedule_holds_the_rate_after_warm_up():
    tcfg = replace(preset("tiny").recipe("paper"), lr=1e-3, warmup=4, steps=50)
    assert [get_lr(s, tcfg) for s in (0, 3, 4, 30, 49)] == [2.5e-4, 1e-3, 1e-3, 1e-3, 1e-3]
    cosine = replace(tcfg, schedule="cosine")
    assert get_lr(49, cosine) < 0.2e-3


def test_a_base_starts_only_from_a_base_of_the_same_model_and_data(base, tuned, tmp_path):
    with pytest.raises(CheckpointError, match="'tune' checkpoint; start from a base"):
        _start(tuned, tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match="another model"):
        _start(base, tmp_path / "b.pt", d_ff=96)
    with pytest.raises(ValueError, match="choose one"):
        runner.train_base(SPEC, tmp_path / "c.pt", "tiny", init=base, resume=True)
    assert not list(tmp_path.iterdir())  # refused before anything was written
