"""Wire a run together: world, tokenizer, vocabulary, model, task data, then the loop.

`train_base` starts from nothing; `tune` starts from a base checkpoint and adds a proxy task
(or, for proxy "none", spends the same steps on the base tasks: the fair control).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from sgt_probe.checkpoint import CheckpointError, Origin
from sgt_probe.data import make_world
from sgt_probe.data.proxies import PROXIES
from sgt_probe.data.spec import DataSpec
from sgt_probe.device import default_device
from sgt_probe.model.checks import Contents
from sgt_probe.model.config import (
    DEFAULT_RECIPE,
    ModelConfig,
    TrainConfig,
    base_model_config,
    preset,
)
from sgt_probe.model.loading import build_model, load_model, read_checkpoint
from sgt_probe.model.vocab import Vocab
from sgt_probe.tokenizer import fit_tokenizer, tokenizer_from_state
from sgt_probe.tuning import check_fresh
from sgt_probe.tuning.loop import train_loop
from sgt_probe.tuning.taskdata import TrainStream


def _resume_state(out: Path, tcfg: TrainConfig, resume: bool) -> Contents | None:
    """The checkpoint to continue from, or None to start fresh.

    Without --resume an existing checkpoint or training log is never silently continued or
    overwritten. Only the step budget may differ from the run's: a larger one extends it (a
    learning curve still rising), its learning-rate schedule stretched to the new length.
    Options the run's saved config predates take the values asked for now.
    """
    check_fresh(out, resume)
    if not out.exists():
        return None
    saved = read_checkpoint(out)
    ckpt = saved.ckpt
    # An option added since the run started takes the value asked for now: extending a run
    # may use it (the shipped bases began dropping prompts when extended).
    was = TrainConfig.from_dict({**tcfg.to_dict(), **ckpt.train_config, "steps": tcfg.steps})
    if was != tcfg:
        raise CheckpointError(f"{out}: was started with another training config; cannot resume")
    if ckpt.step > tcfg.steps:
        raise CheckpointError(f"{out}: is at step {ckpt.step}, past --steps {tcfg.steps}")
    if ckpt.step < tcfg.steps and not ckpt.resumable:
        raise CheckpointError(f"{out}: was exported (no optimizer or RNG state); cannot resume")
    return saved


def _check_same_run(out: Path, resumed: Contents | None, cfg: ModelConfig, spec: DataSpec):
    """A checkpoint to resume must hold weights for the model these options build, trained on
    the same data; checked before any scene is rendered."""
    if resumed is None:
        return
    pairs = {"model config": (resumed.cfg, cfg), "data": (resumed.spec, spec)}
    for what, (was, now) in pairs.items():
        if was != now:
            raise CheckpointError(f"{out}: was started with another {what}; cannot resume")


# What a run started from another base may change: the tokenizer, hence the image codes.
_TOKENIZER_FIELDS = ("n_codes", "tokenizer", "tokenizer_scene_repeat", "vocab_size")


def _init_state(init: Path, cfg: ModelConfig, vocab: Vocab, spec: DataSpec) -> dict:
    """The weights a run starts from when it starts from the base `init`. With init's tokenizer
    settings the run continues init: it keeps init's tokenizer and every weight, under a fresh
    learning-rate schedule (an exported base cannot be resumed). With other tokenizer settings
    the run fits its own tokenizer and keeps all but the image codes' rows, which belong to
    init's: the image reader (patch encoder), every layer and the words' rows carry over, so a
    base can be given a new tokenizer without learning to read its images again. A world that
    gained words since init was trained (new question families) is fine: init's words keep
    their rows and the new ones start fresh. Checked before any work."""
    c = read_checkpoint(init)
    if c.ckpt.stage != "base":
        raise CheckpointError(f"{init}: is a {c.ckpt.stage!r} checkpoint; start from a base")
    if c.spec != spec:
        raise CheckpointError(f"{init}: was trained on other data; cannot start from it")
    was = c.cfg
    same = {f: getattr(cfg, f) for f in _TOKENIZER_FIELDS}
    if replace(was, **same) != cfg:
        raise CheckpointError(f"{init}: is another model (not only another tokenizer)")
    old = c.vocab
    lost = sorted(set(old.tokens[: old.code_offset]) - set(vocab.tokens[: vocab.code_offset]))
    if lost:
        raise CheckpointError(f"{init}: has words this world lacks ({', '.join(lost[:5])}); "
                              "cannot start from it")  # fmt: skip
    continuing = replace(was, vocab_size=cfg.vocab_size) == cfg
    return {
        "origin": Origin(str(init), c.ckpt.step),
        "state_dict": c.ckpt.state_dict,
        "vocab": old,
        "tokenizer": c.ckpt.tokenizer if continuing else None,  # None: the run fits its own
    }


def _start_from(model, init: dict, vocab: Vocab) -> None:
    """Load init's weights into `model`. The token tables' rows are copied by token: every word
    of init's keeps its row, and its codes' rows too when the run continues init (same
    tokenizer); other rows stay fresh, even where the tables have the same shape."""
    old: Vocab = init["vocab"]
    keep = list(old.tokens if init["tokenizer"] is not None else old.tokens[: old.code_offset])
    rows_new = torch.tensor([vocab[t] for t in keep])
    rows_old = torch.tensor([old[t] for t in keep])
    state = model.state_dict()
    lm = model.lm
    tables = {
        lm.get_input_embeddings().weight.data_ptr(),
        lm.get_output_embeddings().weight.data_ptr(),
    }
    for name, value in init["state_dict"].items():
        if state[name].data_ptr() in tables:
            state[name][rows_new] = value[rows_old]
        else:
            state[name] = value
    model.load_state_dict(state)


def _run(model, data, tcfg, out, payload, resumed, device, progress, on_checkpoint) -> Path:
    start, opt_state, history = 0, None, None
    if resumed is not None:
        ckpt = resumed.ckpt
        model.load_state_dict(ckpt.state_dict)
        start, opt_state, history = ckpt.step, ckpt.optimizer, ckpt.history
        torch.set_rng_state(ckpt.rng)
    train_loop(model, data, tcfg, out, payload, start, opt_state, history, device, progress,
               on_checkpoint=on_checkpoint)  # fmt: skip
    return out


def train_base(
    spec: DataSpec,
    out: str | Path,
    preset_name: str = "tiny",
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    on_checkpoint=None,
    init: str | Path | None = None,
) -> Path:
    """A base trained from scratch, or from the base `init`'s weights (`_init_state`)."""
    out = Path(out)
    if init is not None and resume:
        raise ValueError("init starts a run and resume continues one: choose one")
    overrides = {**(model_overrides or {}), "image_size": spec.image_size}
    cfg: ModelConfig = base_model_config(preset_name, spec.world, **overrides)
    tcfg: TrainConfig = replace(preset(preset_name).train, **(train_overrides or {}))
    resumed = _resume_state(out, tcfg, resume)
    if resumed is not None and resumed.ckpt.step >= tcfg.steps:
        return out
    world = make_world(spec)
    vocab = Vocab.build(world.words(), cfg.n_codes)
    start = None
    if init is not None:
        start = _init_state(Path(init), replace(cfg, vocab_size=len(vocab)), vocab, spec)
    if resumed is not None:  # the codebook is part of the run: never refit on resume
        tokenizer = tokenizer_from_state(resumed.ckpt.tokenizer)
    elif start is not None and start["tokenizer"] is not None:  # continuing init
        tokenizer = tokenizer_from_state(start["tokenizer"])
    else:
        tokenizer = fit_tokenizer(world, n_codes=cfg.n_codes, seed=tcfg.seed, kind=cfg.tokenizer,
                                  scene_repeat=cfg.tokenizer_scene_repeat)  # fmt: skip
    model = build_model(cfg, vocab, tcfg.seed)
    _check_same_run(out, resumed, model.cfg, spec)
    if start is not None:
        _start_from(model, start, vocab)
    data = TrainStream(world, tokenizer, vocab, model.cfg, world.split("train")[: tcfg.n_scenes])
    payload = {
        "stage": "base", "model_config": model.cfg.to_dict(), "train_config": tcfg.to_dict(),
        "vocab": vocab.to_dict(), "tokenizer": tokenizer.state_dict(), "data_spec": spec.to_dict(),
        # where the run started from (`_init_state`), kept when it is resumed
        "init": start["origin"] if start else resumed and resumed.ckpt.init,
    }  # fmt: skip
    device = device or default_device()
    return _run(model, data, tcfg, out, payload, resumed, device, progress, on_checkpoint)


def tune(
    base: str | Path,
    proxy: str,
    out: str | Path,
    train_overrides: dict | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    on_checkpoint=None,
    recipe: str | None = None,
) -> Path:
    """Tune the base at `base` with `proxy` by the preset's `recipe` (None: the default,
    `model.config.DEFAULT_RECIPE`); `train_overrides` replace the recipe's fields."""
    if proxy not in PROXIES:
        raise ValueError(f"unknown proxy {proxy!r}; choose one of {', '.join(PROXIES)}")
    out = Path(out)
    loaded = load_model(base)
    if loaded.ckpt.stage != "base":
        raise CheckpointError(f"{base}: is a {loaded.ckpt.stage!r} checkpoint; tune a base")
    recipe_cfg = preset(loaded.cfg.preset).recipe(recipe)
    tcfg: TrainConfig = replace(recipe_cfg, proxy=proxy, **(train_overrides or {}))
    resumed = _resume_state(out, tcfg, resume)
    if resumed is not None and resumed.ckpt.step >= tcfg.steps:
        return out
    _check_same_run(out, resumed, loaded.cfg, loaded.spec)
    world = loaded.world()
    scenes = world.split("train")[: tcfg.n_scenes]
    data = TrainStream(world, loaded.tokenizer, loaded.vocab, loaded.cfg, scenes)
    was = loaded.ckpt
    payload = {
        "model_config": was.model_config, "vocab": was.vocab, "tokenizer": was.tokenizer,
        "data_spec": was.data_spec, "stage": "tune", "proxy": proxy,
        "recipe": recipe or DEFAULT_RECIPE, "train_config": tcfg.to_dict(),
        "parent": Origin(str(base), was.step, was.train_config),
    }  # fmt: skip
    device = device or default_device()
    return _run(loaded.model, data, tcfg, out, payload, resumed, device, progress,
                on_checkpoint)  # fmt: skip
