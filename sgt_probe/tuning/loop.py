"""The training loop shared by base training and SGT tuning (nanoGPT style: one flat loop).

Runs as one process, or under `torchrun --nproc_per_node N` with DistributedDataParallel
(gloo on CPU, nccl on GPU): each rank takes every N-th item of the same global batch and each
task's loss is normalised by the task's global target-token count, so N processes compute the
loss one process would.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from sgt_probe.checkpoint import Checkpoint, save_checkpoint
from sgt_probe.model.config import TrainConfig
from sgt_probe.model.sequences import collate, n_targets
from sgt_probe.model.unified import UnifiedModel
from sgt_probe.tuning import log_path
from sgt_probe.tuning.taskdata import TrainStream


class TrainingError(RuntimeError):
    """Training stopped (e.g. a non-finite loss); the message says what was kept."""


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Join the process group when launched by torchrun; a plain process is rank 0 of 1."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Dist()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        # leave the group before the interpreter tears down: a gloo group left to its
        # destructor at exit aborted a rank ("terminate called without an active exception")
        # in about one run of five of tests/test_distributed.py
        atexit.register(dist.destroy_process_group)
    return Dist(dist.get_rank(), dist.get_world_size())


def get_lr(step: int, tcfg: TrainConfig) -> float:
    if step < tcfg.warmup:
        return tcfg.lr * (step + 1) / tcfg.warmup
    if tcfg.schedule == "constant":
        return tcfg.lr
    progress = (step - tcfg.warmup) / max(1, tcfg.steps - tcfg.warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return tcfg.lr * (tcfg.min_lr_ratio + (1 - tcfg.min_lr_ratio) * cosine)


def make_optimizer(model: UnifiedModel, tcfg: TrainConfig) -> torch.optim.AdamW:
    # frozen parameters (a Hugging Face model's VQ-VAE, the base weights under LoRA) stay out
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in params if p.dim() >= 2 and "pos" not in n]
    no_decay = [p for n, p in params if p.dim() < 2 or "pos" in n]
    groups = [
        {"params": decay, "weight_decay": tcfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # fused: one kernel over all parameters instead of a Python loop over them; at the `small`
    # preset on CPU the optimizer step drops from ~9 to ~3 ms (benchmarks/train_bench.py).
    return torch.optim.AdamW(groups, lr=tcfg.lr, betas=(0.9, 0.95), fused=True)


def item_losses(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross-entropy and target count per item. logits [B,T,V], targets [B,T]."""
    ce = F.cross_entropy(
        logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="none"
    ).view(targets.shape)  # [B, T]
    return ce.sum(1), (targets != -100).sum(1)


def _save_file(out: Path, contents: dict) -> None:
    """`train_loop`'s default `save`: an sgt-probe checkpoint file."""
    save_checkpoint(out, Checkpoint(**contents))


def train_loop(
    model: UnifiedModel,
    data: TrainStream,
    tcfg: TrainConfig,
    out: Path,
    payload: dict,
    start_step: int = 0,
    optimizer_state: dict | None = None,
    history: list[dict] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_checkpoint=None,
    save=_save_file,
) -> list[dict]:
    """Train from `start_step` to `tcfg.steps`, checkpointing `out` every `ckpt_every` steps.

    `payload` holds the checkpoint's fixed parts (configs, vocabulary, codebook, data spec).
    Training runs with sdpa attention (fused kernels); a finished run hands the model back with
    eager attention, which capture needs to read attention patterns. `on_checkpoint(step)` is
    called (on the main rank) after each checkpoint is written, e.g. to evaluate it
    (benchmarks/learn_bench.py). `save(out, contents)` writes a checkpoint from `payload` and
    the run's state (a Hugging Face model's is a directory: sgt_probe.sources.tuning); the
    default writes an sgt-probe checkpoint file.
    """
    ddp = init_distributed()
    model.to(device).train()
    model.lm.set_attn_implementation("sdpa")
    net = model
    if ddp.world_size > 1:
        # A rank's share of a batch can hold no image (all generation items), and "vq" input
        # never uses the patch encoder: DDP must expect parameters without gradients.
        net = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    optimizer = make_optimizer(model, tcfg)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    history = list(history or [])
    log = log_path(out)
    if ddp.main and log.exists():
        # A killed run logged steps past its last checkpoint; the resumed run logs them again.
        keep = [ln for ln in log.read_text().splitlines()
                if ln.strip() and json.loads(ln)["step"] <= start_step]  # fmt: skip
        log.write_text("".join(ln + "\n" for ln in keep))
    out.parent.mkdir(parents=True, exist_ok=True)  # the log is written before any checkpoint
    last_saved = start_step if start_step else None

    def checkpoint(step: int) -> None:
        if ddp.main:
            save(out, {
                **payload, "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state(), "step": step, "history": history,
            })  # fmt: skip

    bar = tqdm(
        range(start_step, tcfg.steps), initial=start_step, total=tcfg.steps,
        desc=f"{payload.get('stage', 'train')}", disable=not (progress and ddp.main),
    )  # fmt: skip
    tasks = ["understanding", "caption", "generation", *data.proxies(tcfg)]
    weights = torch.tensor([tcfg.task_weight(t) for t in tasks], device=device)
    t0, tokens = time.perf_counter(), 0
    step = start_step
    try:
        for step in bar:
            items = data.batch(tcfg, step, ddp.rank, ddp.world_size)
            for g in optimizer.param_groups:
                g["lr"] = get_lr(step, tcfg)
            # One forward per task: items of a task have similar lengths, so this pads far less
            # than one forward over the whole batch (a dialogue is ~130 tokens, a caption ~80).
            groups = [(k, [it for it in items if it.task == t]) for k, t in enumerate(tasks)]
            groups = [(k, g) for k, g in groups if g]
            # [task] global target counts, known before any forward: each task's loss is its mean
            # over them, so the micro-batches' losses add up to the batch loss.
            stats = torch.zeros(len(tasks), 2, device=device)  # [task] (loss sum, target count)
            for k, g in groups:
                stats[k, 1] = sum(n_targets(it) for it in g)
            if ddp.world_size > 1:
                dist.all_reduce(stats)
            present = stats[:, 1] > 0
            w = weights * present / (weights * present).sum()  # weights of the tasks in the batch
            optimizer.zero_grad(set_to_none=True)
            for j, (k, g) in enumerate(groups):
                batch = {key: v.to(device) for key, v in collate(g, *data.patch_shape).items()}
                # DDP all-reduces the accumulated gradients once, on each rank's last backward
                last = j == len(groups) - 1
                with nullcontext() if last or ddp.world_size == 1 else net.no_sync():
                    logits = net(batch["input_ids"], batch["pixels"]).logits
                    task_sum = item_losses(logits, batch["targets"])[0].sum()
                    # DDP averages gradients over ranks; scaling by world_size turns that into
                    # the sum
                    (w[k] * task_sum / stats[k, 1] * ddp.world_size).backward()
                stats[k, 0] = task_sum.detach()
                tokens += int((batch["roles"] != 0).sum())
            if ddp.world_size > 1:
                sums = stats[:, 0].clone()
                dist.all_reduce(sums)
                stats[:, 0] = sums
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            global_loss = (w * stats[:, 0] / stats[:, 1].clamp(min=1)).sum().item()
            # Checked before the update so non-finite values never reach the weights, and so the
            # last checkpoint written is one whose weights gave a finite loss and gradient.
            bad = {"loss": global_loss, "gradient norm": grad_norm.item()}
            bad = {k: v for k, v in bad.items() if not math.isfinite(v)}
            if bad:
                kept = f"{out} (step {last_saved})" if last_saved is not None else "nothing"
                what = ", ".join(f"{k} {v}" for k, v in bad.items())
                raise TrainingError(
                    f"{what} at step {step}; stopped before updating. Last good checkpoint: {kept}"
                )
            optimizer.step()

            rate = tokens * ddp.world_size / (time.perf_counter() - t0)
            record = {
                "step": step + 1, "loss": global_loss, "lr": get_lr(step, tcfg), "tokens_per_s": rate,
                **{f"loss/{k}": s / c
                   for k, (s, c) in zip(tasks, stats.tolist(), strict=True) if c},
            }  # fmt: skip
            history.append(record)
            bar.set_postfix(loss=f"{global_loss:.3f}", tok_s=f"{rate:,.0f}")
            if ddp.main and ((step + 1) % tcfg.log_every == 0 or step + 1 == tcfg.steps):
                with open(log, "a") as f:
                    f.write(json.dumps(record) + "\n")
            if (step + 1) % tcfg.ckpt_every == 0 or step + 1 == tcfg.steps:
                checkpoint(step + 1)
                last_saved = step + 1
                if on_checkpoint is not None and ddp.main:
                    on_checkpoint(step + 1)
    except BaseException as e:
        # whatever stopped the run (an interrupt, an error), what it kept is said with it
        kept = f"{out} holds step {last_saved}" if last_saved is not None else "no checkpoint yet"
        e.add_note(f"stopped at step {step} of {tcfg.steps}; {kept}")
        raise

    model.lm.set_attn_implementation("eager")
    model.eval()
    return history
