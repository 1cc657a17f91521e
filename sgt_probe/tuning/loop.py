"""The training loop shared by base training and SGT tuning (nanoGPT style: one flat loop).

Runs as one process, or under `torchrun --nproc_per_node N` with DistributedDataParallel
(gloo on CPU, nccl on GPU): each rank takes every N-th item of the same global batch and the
loss is normalised by the global target-token count, so N processes compute the loss one
process would.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from sgt_probe.checkpoint import save_checkpoint
from sgt_probe.model.config import TrainConfig
from sgt_probe.model.sequences import collate
from sgt_probe.model.unified import UnifiedModel
from sgt_probe.tuning import log_path
from sgt_probe.tuning.taskdata import TaskData, batch_items


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
    return Dist(dist.get_rank(), dist.get_world_size())


def get_lr(step: int, tcfg: TrainConfig) -> float:
    if step < tcfg.warmup:
        return tcfg.lr * (step + 1) / tcfg.warmup
    progress = (step - tcfg.warmup) / max(1, tcfg.steps - tcfg.warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return tcfg.lr * (tcfg.min_lr_ratio + (1 - tcfg.min_lr_ratio) * cosine)


def make_optimizer(model: UnifiedModel, tcfg: TrainConfig) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "pos" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2 or "pos" in n]
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


def train_loop(
    model: UnifiedModel,
    data: TaskData,
    tcfg: TrainConfig,
    out: Path,
    payload: dict,
    start_step: int = 0,
    optimizer_state: dict | None = None,
    history: list[dict] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> list[dict]:
    """Train from `start_step` to `tcfg.steps`, checkpointing `out` every `ckpt_every` steps.

    `payload` holds the checkpoint's fixed parts (configs, vocabulary, codebook, data spec).
    Training runs with sdpa attention (fused kernels); a finished run hands the model back with
    eager attention, which capture needs to read attention patterns.
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
            save_checkpoint(out, {
                **payload, "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state(), "step": step, "history": history,
            })  # fmt: skip

    bar = tqdm(
        range(start_step, tcfg.steps), initial=start_step, total=tcfg.steps,
        desc=f"{payload.get('stage', 'train')}", disable=not (progress and ddp.main),
    )  # fmt: skip
    tasks = ["understanding", "generation", *data.proxies]
    t0, tokens = time.perf_counter(), 0
    for step in bar:
        items = batch_items(data, tcfg, step)[ddp.rank :: ddp.world_size]
        batch = {k: v.to(device) for k, v in collate(items, *data.pixels.shape[1:]).items()}
        for g in optimizer.param_groups:
            g["lr"] = get_lr(step, tcfg)
        logits = net(batch["input_ids"], batch["pixels"]).logits
        sums, counts = item_losses(logits, batch["targets"])
        # Per-task [loss sum, target count] rows plus a total row, summed over ranks in one
        # all_reduce, so the history is the same for any number of processes.
        task_ix = torch.tensor([tasks.index(it.task) for it in items], device=sums.device)
        stats = torch.zeros(len(tasks) + 1, 2, device=sums.device)
        stats[:-1].index_add_(0, task_ix, torch.stack([sums.detach(), counts.float()], 1))
        stats[-1] = stats[:-1].sum(0)
        if ddp.world_size > 1:
            dist.all_reduce(stats)
        global_sum, total = stats[-1]
        # DDP averages gradients over ranks; scaling by world_size turns that into the sum.
        loss = sums.sum() / total * ddp.world_size
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        global_loss = (global_sum / total).item()
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

        tokens += int((batch["roles"] != 0).sum()) * ddp.world_size
        rate = tokens / (time.perf_counter() - t0)
        record = {
            "step": step + 1, "loss": global_loss, "lr": get_lr(step, tcfg), "tokens_per_s": rate,
            **{f"loss/{k}": s / c
               for k, (s, c) in zip(tasks, stats[:-1].tolist(), strict=True) if c},
        }  # fmt: skip
        history.append(record)
        bar.set_postfix(loss=f"{global_loss:.3f}", tok_s=f"{rate:,.0f}")
        if ddp.main and ((step + 1) % tcfg.log_every == 0 or step + 1 == tcfg.steps):
            with open(log, "a") as f:
                f.write(json.dumps(record) + "\n")
        if (step + 1) % tcfg.ckpt_every == 0 or step + 1 == tcfg.steps:
            checkpoint(step + 1)
            last_saved = step + 1
    model.lm.set_attn_implementation("eager")
    model.eval()
    return history
