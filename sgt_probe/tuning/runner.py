"""Wire a run together: world, tokenizer, vocabulary, model, task data, then the loop.

`train_base` starts from nothing; `tune_checkpoint` starts from a base checkpoint and adds a
proxy task (or, for proxy "none", spends the same steps on the base tasks: the fair control).
Tuning is entered through `sources.tuning.tune`, which also tunes model directories.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from sgt_probe.checkpoint import CheckpointError, Origin
from sgt_probe.data import make_world
from sgt_probe.data.spec import DataSpec
from sgt_probe.device import default_device
from sgt_probe.model.checks import Contents
from sgt_probe.model.config import (
    ModelConfig,
    Overrides,
    TrainConfig,
    base_model_config,
    preset,
)
from sgt_probe.model.loading import build_model, load_model, read_checkpoint
from sgt_probe.model.vocab import Vocab
from sgt_probe.tokenizer import fit_tokenizer, tokenizer_from_state
from sgt_probe.tuning import check_fresh, check_resume
from sgt_probe.tuning.loop import train_loop
from sgt_probe.tuning.taskdata import TrainStream


def _resumed(out: Path, tcfg: TrainConfig, cfg: ModelConfig, spec: DataSpec
             ) -> tuple[Contents | None, bool]:  # fmt: skip
    """The checkpoint at `out` to continue (None: start fresh) and whether it is finished,
    checked against these options (`tuning.check_resume`: the same model, trained on the same
    data) before any scene is rendered."""
    if not out.exists():
        return None, False
    was = read_checkpoint(out)
    same = {"model config": (was.cfg, cfg), "data": (was.spec, spec)}
    ckpt = was.ckpt
    return was, check_resume(out, tcfg, ckpt.train_config, ckpt.step, ckpt.resumable, same)


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
    model: Overrides = Overrides(ModelConfig),
    train: Overrides = Overrides(TrainConfig),
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    on_checkpoint=None,
    init: str | Path | None = None,
) -> Path:
    """A base trained from scratch, or from the base `init`'s weights (`_init_state`), by the
    preset's model and training config with `model` and `train` set over them."""
    out = Path(out)
    if init is not None and resume:
        raise ValueError("init starts a run and resume continues one: choose one")
    check_fresh(out, resume)
    tcfg: TrainConfig = train.apply(preset(preset_name).train)
    world = make_world(spec)
    cfg = base_model_config(preset_name, spec.world, model)
    vocab = Vocab.build(world.words(), cfg.n_codes)
    cfg = replace(cfg, image_size=spec.image_size, vocab_size=len(vocab))
    resumed, finished = _resumed(out, tcfg, cfg, spec)
    if finished:
        return out
    start = _init_state(Path(init), cfg, vocab, spec) if init is not None else None
    if resumed is not None:  # the codebook is part of the run: never refit on resume
        tokenizer = tokenizer_from_state(resumed.ckpt.tokenizer)
    elif start is not None and start["tokenizer"] is not None:  # continuing init
        tokenizer = tokenizer_from_state(start["tokenizer"])
    else:
        tokenizer = fit_tokenizer(world, n_codes=cfg.n_codes, seed=tcfg.seed, kind=cfg.tokenizer,
                                  scene_repeat=cfg.tokenizer_scene_repeat)  # fmt: skip
    net = build_model(cfg, vocab, tcfg.seed)
    if start is not None:
        _start_from(net, start, vocab)
    data = TrainStream(world, tokenizer, vocab, cfg, world.split("train")[: tcfg.n_scenes])
    payload = {
        "stage": "base", "model_config": cfg.to_dict(), "train_config": tcfg.to_dict(),
        "vocab": vocab.to_dict(), "tokenizer": tokenizer.state_dict(), "data_spec": spec.to_dict(),
        # where the run started from (`_init_state`), kept when it is resumed
        "init": start["origin"] if start else (resumed.ckpt.init if resumed else None),
    }  # fmt: skip
    device = device or default_device()
    return _run(net, data, tcfg, out, payload, resumed, device, progress, on_checkpoint)


def tune_checkpoint(
    base: Path,
    proxy: str,
    out: Path,
    settings: Overrides,
    recipe: str,
    resume: bool,
    device: str | None,
    progress: bool,
    on_checkpoint,
) -> Path:
    """Tune the base checkpoint at `base` with `proxy` by its preset's `recipe`, `settings`
    set over the recipe's config (what `sources.tuning.tune` does for a checkpoint)."""
    check_fresh(out, resume)
    loaded = load_model(base)
    if loaded.ckpt.stage != "base":
        raise CheckpointError(f"{base}: is a {loaded.ckpt.stage!r} checkpoint; tune a base")
    tcfg = settings.apply(replace(preset(loaded.cfg.preset).recipe(recipe), proxy=proxy))
    resumed, finished = _resumed(out, tcfg, loaded.cfg, loaded.spec)
    if finished:
        return out
    world = loaded.world()
    scenes = world.split("train")[: tcfg.n_scenes]
    data = TrainStream(world, loaded.tokenizer, loaded.vocab, loaded.cfg, scenes)
    was = loaded.ckpt
    payload = {
        "model_config": was.model_config, "vocab": was.vocab, "tokenizer": was.tokenizer,
        "data_spec": was.data_spec, "stage": "tune", "proxy": proxy, "recipe": recipe,
        "train_config": tcfg.to_dict(), "parent": Origin(str(base), was.step, was.train_config),
    }  # fmt: skip
    device = device or default_device()
    return _run(loaded.model, data, tcfg, out, payload, resumed, device, progress,
                on_checkpoint)  # fmt: skip
