"""Tuning's one entry point, `tune`, for an sgt-probe checkpoint (`tuning.runner`) or a Hugging
Face model directory (Emu3, Janus, Chameleon: `sgt-probe tune DIR --proxy P --world W --out
DIR2`), which the rest of this module tunes.

SGT as the paper runs it on a real unified model: the proxy map (a segmentation, depth or edge
map, the image again, ...; `data/proxies.py`) is encoded by the model's own image tokenizer and
learned as generated image tokens after an instruction, mixed with the base tasks exactly as our
own tuning mixes them: the same training loop (`tuning/loop.py`), batch plan and task weights
(`tuning/taskdata.py`), with the scenes tokenized by the model's processor (`hf_items`) and the
loss on the logits the architecture trains on (`HFSource.train_logits`: Janus's generation head
on its codes, Chameleon's image tokens unmasked).

The image tokenizer stays frozen (`HFSource.frozen`: the VQ model, never trained with the
decoder). With `lora`, only rank-16 adapters on the decoder's attention projections train
(peft), for models too large to tune whole on one GPU. On CUDA the weights are bfloat16.

The output is a Hugging Face directory that `compare` and plain `from_pretrained` of the model's
class read: config, safetensors weights (adapters merged in), the base's processor files (and
Chameleon's VQ-GAN decoder), `sgt_probe.json` (how it was made, its world, the training history)
and `training_state.pt` (optimizer, random state and adapters, for `--resume`; read with
weights_only=True). Every checkpoint replaces the whole directory atomically
(`checkpoint.atomic_dir`).
"""

from __future__ import annotations

import pickle
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from sgt_probe.checkpoint import CheckpointError, atomic_dir
from sgt_probe.data import make_world
from sgt_probe.data.proxies import PROXIES
from sgt_probe.data.spec import DataSpec
from sgt_probe.device import default_device
from sgt_probe.model.config import DEFAULT_RECIPE, RECIPES, Overrides, TrainConfig
from sgt_probe.sources.hf import HFSource, quiet
from sgt_probe.sources.hfdir import check_model_dir, check_tunable, read_sidecar, write_sidecar
from sgt_probe.sources.open import source_class
from sgt_probe.tuning import check_fresh, check_resume
from sgt_probe.tuning.loop import train_loop
from sgt_probe.tuning.runner import tune_checkpoint
from sgt_probe.tuning.taskdata import TrainStream

# A pretrained model tunes at a far smaller rate than our models train from scratch, in
# smaller batches (an Emu3-8B sequence holds 4k image tokens).
TUNE = TrainConfig(steps=150, batch_size=8, lr=1e-4, warmup=10, ckpt_every=50, log_every=10)
LORA = {"rank": 16, "alpha": 32}  # and the architecture's targets: lora_for
STATE = "training_state.pt"


def lora_for(arch: type[HFSource]) -> dict:
    """The LoRA setting of an architecture: rank, alpha and its decoder's attention."""
    return {**LORA, "targets": arch.lora_targets}


class Trainable(nn.Module):
    """What `train_loop` drives: `forward(input_ids, pixels)` (pixels: what items carry of their
    images, read by Janus's vision encoder) and `.lm`, the Hugging Face model whose attention it
    switches."""

    def __init__(self, net: nn.Module, arch: type[HFSource]):
        super().__init__()
        self.net = net
        self.arch = arch

    @property
    def lm(self) -> nn.Module:
        # a PeftModel wraps the model it adapts (its adapters are inside that model)
        return self.net.get_base_model() if hasattr(self.net, "get_base_model") else self.net

    def forward(self, input_ids: torch.Tensor, pixels: torch.Tensor | None = None):
        return SimpleNamespace(logits=self.arch.train_logits(self.lm, input_ids, pixels))

    def train(self, mode: bool = True) -> Trainable:
        super().train(mode)
        # The VQ model tokenizes every batch's scenes: in training mode its batch norms would
        # move their running statistics, and with them the tokens of every image.
        for module in self.arch.frozen(self.lm):
            module.eval()
        return self


def with_lora(model: nn.Module, lora: dict) -> nn.Module:
    """`model` with LoRA adapters (a peft `PeftModel`). peft is imported only here: tuning
    the whole model does not need it."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"], target_modules=lora["targets"],
                        lora_dropout=0.0)  # fmt: skip
    return get_peft_model(model, config)


def plain_state_dict(state: dict[str, torch.Tensor], lora: dict | None) -> dict:
    """The Hugging Face model's own state dict from a `Trainable`'s: the wrapper's prefix
    dropped and, under LoRA, every adapted weight merged, W + alpha / rank * B @ A."""
    sd = {k.removeprefix("net."): v for k, v in state.items()}
    if lora is None:
        return sd
    sd = {k.removeprefix("base_model.model."): v for k, v in sd.items()}
    scale = lora["alpha"] / lora["rank"]
    out = {}
    for k, v in sd.items():
        if ".lora_" in k:
            continue
        module, sep, rest = k.partition(".base_layer.")
        if sep and rest == "weight":
            a, b = sd[f"{module}.lora_A.default.weight"], sd[f"{module}.lora_B.default.weight"]
            v = (v.float() + scale * (b.float() @ a.float())).to(v.dtype)
        out[f"{module}.{rest}" if sep else k] = v
    return out


class SourceStream:
    """What tuning a model source draws its batches from: `TrainStream.batch` itself (the
    batch plan, every question of a scene in one dialogue, a caption where a scene has none)
    over scenes that the source tokenizes."""

    def __init__(self, world, source: HFSource, scenes):
        self.world, self.source, self.scenes = world, source, scenes

    # TrainStream.batch reads only `scenes`, `proxies` and `task_data`
    batch = TrainStream.batch
    proxies = staticmethod(TrainStream.proxies)

    def task_data(self, indices, proxies):
        return self.source.task_data(self.world, indices, proxies)

    @property
    def patch_shape(self) -> tuple[int, int]:
        return self.source.patch_shape


def saver(source: HFSource, lora: dict | None):
    """`train_loop`'s `save`: the tuned directory, written whole and atomically."""

    def save(out: Path, contents: dict) -> None:
        with atomic_dir(out) as tmp, quiet():
            source.model.save_pretrained(tmp, state_dict=plain_state_dict(contents["state_dict"],
                                                                          lora))  # fmt: skip
            source.processor.save_pretrained(tmp)
            for name in source.extra_files():  # from the base: tuning leaves them as they are
                shutil.copyfile(source.path / name, tmp / name)
            keys = ("stage", "proxy", "recipe", "parent", "data_spec", "train_config", "lora",
                    "seed", "step", "history")  # fmt: skip
            write_sidecar(tmp, {k: contents[k] for k in keys})
            adapter = {k: v for k, v in contents["state_dict"].items() if ".lora_" in k}
            torch.save({"optimizer": contents["optimizer"], "rng": contents["rng"],
                        "adapter": adapter}, tmp / STATE)  # fmt: skip

    return save


def _resumed(
    out: Path, tcfg: TrainConfig, spec: DataSpec, base: Path, lora
) -> tuple[dict | None, bool]:
    """The run at `out` to continue (its step, history, optimizer, random state and adapters;
    None: start fresh) and whether it is finished, checked against these options
    (`tuning.check_resume`: the same world, base and LoRA setting)."""
    if not out.exists():
        return None, False
    meta = read_sidecar(check_model_dir(out))
    same = {
        "world": (meta.get("data_spec"), spec.to_dict()),
        "base": (Path(meta.get("parent", {}).get("path", "")).resolve(), base.resolve()),
        "LoRA setting": (meta.get("lora"), lora),
    }
    resumable = (out / STATE).is_file()
    if check_resume(out, tcfg, meta.get("train_config") or {}, meta["step"], resumable, same):
        return None, True
    try:
        state = torch.load(out / STATE, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{out / STATE}: not a readable training state ({e.__class__.__name__})"
                              ) from None  # fmt: skip
    return {**state, "step": meta["step"], "history": meta["history"]}, False


def tune(
    base: str | Path, proxy: str, out: str | Path, settings: Overrides = Overrides(TrainConfig),
    recipe: str = DEFAULT_RECIPE, resume: bool = False, device: str | None = None,
    progress: bool = True, on_checkpoint=None, spec: DataSpec | None = None, lora: bool = False,
) -> Path:  # fmt: skip
    """Tune `base`, an sgt-probe checkpoint or a model directory, with `proxy` by `recipe`,
    `settings` set over its config: the one way in for the CLI, the pipeline and the benchmarks.

    A checkpoint is tuned on the world it was trained on, by its preset's recipe
    (`tuning.runner.tune_checkpoint`); a model directory on the world `spec`, by the recipe's
    mix over a pretrained model's step size and batch (`TUNE`), whole or with `lora` adapters,
    into the directory `out`. Either resumes only with `resume`, after `tuning.check_resume`.
    """
    if proxy not in PROXIES:
        raise ValueError(f"unknown proxy {proxy!r}; choose one of {', '.join(PROXIES)}")
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    base, out = Path(base), Path(out)
    if base.is_dir():
        if spec is None:
            raise ValueError(f"{base}: a model directory is tuned on the world you name")
        return _tune_dir(base, proxy, out, spec, settings, recipe, lora, resume, device,
                         progress, on_checkpoint)  # fmt: skip
    if spec is not None or lora:
        raise ValueError(f"{base}: a checkpoint is tuned on its own world, whole")
    return tune_checkpoint(base, proxy, out, settings, recipe, resume, device, progress,
                           on_checkpoint)  # fmt: skip


def _tune_dir(base: Path, proxy: str, out: Path, spec: DataSpec, settings: Overrides,
              recipe: str, lora: bool, resume: bool, device: str | None, progress: bool,
              on_checkpoint) -> Path:  # fmt: skip
    """Tune the model directory at `base`, writing directory `out`."""
    meta = check_tunable(base)
    check_fresh(out, resume)
    # the recipe's mix and weights over a pretrained model's step size and batch (TUNE)
    tcfg = settings.apply(RECIPES[recipe].apply(replace(TUNE, proxy=proxy)))
    arch = source_class(base)
    lora_cfg = lora_for(arch) if lora else None
    state, finished = _resumed(out, tcfg, spec, base, lora_cfg)
    if finished:
        return out
    device = device or default_device()
    # a whole-model tuning continues from the weights it wrote; LoRA from the base's, plus its
    # adapters
    model, processor = arch.load(out if state is not None and not lora else base, device)
    for module in arch.frozen(model):
        module.requires_grad_(False)
    net = with_lora(model, lora_cfg) if lora else model
    trainable = Trainable(net, arch)
    if state is not None and lora:
        unexpected = trainable.load_state_dict(state["adapter"], strict=False).unexpected_keys
        if unexpected or not state["adapter"]:
            raise CheckpointError(f"{out / STATE}: its adapters do not fit {base}")
    source = arch(base, spec, device, model=model, processor=processor)
    world = make_world(spec)
    stream = SourceStream(world, source, world.split("train")[: tcfg.n_scenes])
    payload = {
        "stage": "tune", "proxy": proxy, "recipe": recipe, "seed": tcfg.seed, "lora": lora_cfg,
        "parent": {"path": str(base), "step": meta.get("step", 0)},
        "data_spec": spec.to_dict(), "train_config": tcfg.to_dict(),
    }  # fmt: skip
    start, optimizer, history = 0, None, None
    # a model may train with dropout (Emu3's attention): its random stream is part of the run
    torch.manual_seed(tcfg.seed)
    if state is not None:
        start, optimizer, history = state["step"], state["optimizer"], state["history"]
        torch.set_rng_state(state["rng"])
    train_loop(trainable, stream, tcfg, out, payload, start, optimizer, history, device,
               progress, on_checkpoint, save=saver(source, lora_cfg))  # fmt: skip
    return out
