"""Training throughput of a preset: tokens/s, model FLOP/s and MFU against the fp32 matmul peak
measured on this machine in the same run.

    python benchmarks/train_bench.py                        # small preset, 1 and 2 threads
    python benchmarks/train_bench.py --preset tiny --threads 1 --steps 20

Each configuration (thread count x attention kernel) runs the real `train_loop` on realistic
batches (`TrainStream.batch`: scenes rendered on the fly) and times --steps steps after WARMUP untimed ones.
Configurations are interleaved over --repeats rounds so load from other processes hits them
alike, and the peak is measured again just before each run.

Two clocks: wall time (what a user waits) and this process's CPU time (what it computed; on
cores shared with other work it leaves out the time slices others took, so it is the steadier
figure for comparing code, and at one thread it is the honest MFU denominator).

Model FLOPs of a step (training = forward + backward = 3 x forward; PaLM, Chowdhery et al.
2022, appendix B):

    6 * N * tokens  +  12 * n_layers * d_model * sum over rows of len_row^2

N counts the parameters of the matmuls every token goes through: the decoder blocks (attention
and MLP projections; their norm gains are included and negligible) and the LM head. The token
embedding (a lookup) and the patch encoder (image positions only; 1-2% of N) are left out.
`tokens` are the non-padding positions; the attention term counts QK^T and AV over each row's
full length, not the causal half, as PaLM does. Padding is computed but not counted.

Peak: the best of several fp32 matmuls of two 2048 x 2048 matrices (2 n^3 FLOPs each) at the
same thread count, by each clock. MFU = model FLOP/s / peak FLOP/s, by the same clock.

Also measured alone (CPU ms): building a batch (`TrainStream.batch` + `collate`), and one AdamW step
in torch's CPU default (a Python for-loop over parameters) against fused.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from unittest import mock

import torch

from sgt_probe.data import DataSpec, make_world
from sgt_probe.model.config import preset
from sgt_probe.model.loading import build_model
from sgt_probe.model.sequences import collate
from sgt_probe.model.vocab import Vocab
from sgt_probe.tokenizer import fit_tokenizer
from sgt_probe.tuning import loop
from sgt_probe.tuning.taskdata import TrainStream

WARMUP = 2  # untimed steps before the timed ones: first steps allocate and pick kernels


class Clock:
    """Wall and CPU seconds since creation."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def matmul_peak(n: int = 2048, repeats: int = 5) -> tuple[float, float]:
    """Best fp32 GFLOP/s of an n x n matmul at the current thread count: (wall, CPU)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up: thread pool and kernel selection
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        clock = Clock()
        a @ b
        wall, cpu = clock.read()
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return 2 * n**3 / best_wall / 1e9, 2 * n**3 / best_cpu / 1e9


def matmul_params(model) -> int:
    """N of the FLOP formula: decoder blocks and LM head."""
    blocks = sum(p.numel() for p in model.lm.model.layers.parameters())
    return blocks + model.lm.lm_head.weight.numel()


def step_flops(items, n_params: int, n_layers: int, d_model: int) -> tuple[int, int]:
    """(model FLOPs, non-padding tokens) of one training step on `items`."""
    lens = [len(it.ids) for it in items]
    tokens = sum(lens)
    return 6 * n_params * tokens + 12 * n_layers * d_model * sum(n * n for n in lens), tokens


def build(preset_name: str, n_scenes: int, proxy: str | None):
    p = preset(preset_name)
    cfg, tcfg = p.model, replace(p.train, n_scenes=n_scenes, proxy=proxy)
    world = make_world(DataSpec())
    # Codebook quality does not change the cost of a step: fit it on few scenes.
    tokenizer = fit_tokenizer(world, n_scenes=64, n_codes=cfg.n_codes)
    vocab = Vocab.build(world.words(), cfg.n_codes)
    data = TrainStream(world, tokenizer, vocab, cfg, world.split("train")[:n_scenes])
    return cfg, tcfg, vocab, data


def time_steps(cfg, tcfg, vocab, data, steps: int, attn: str, tmp: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of steps WARMUP .. WARMUP + steps - 1 of a real `train_loop` run on a
    fresh model, timed between the loop's calls to `TrainStream.batch` (one at the start of each
    step, so building the batch counts; model building and the final checkpoint do not)."""
    stamps = []
    batch = TrainStream.batch

    def stamped(*args):
        stamps.append((time.perf_counter(), time.process_time()))
        return batch(*args)

    model = build_model(cfg, vocab, seed=0)
    model.lm.set_attn_implementation(attn)
    run = replace(tcfg, steps=WARMUP + steps + 1, warmup=1, ckpt_every=10**9, log_every=10**9)
    out = tmp / f"{attn}.pt"
    # train_loop always trains with sdpa; pinning the kernel set above times the one asked for
    pinned = mock.patch.object(model.lm, "set_attn_implementation")
    with mock.patch.object(TrainStream, "batch", stamped), pinned:
        # the final checkpoint is not written: the benchmark has no payload to make one from
        loop.train_loop(model, data, run, out, {}, progress=False, save=lambda *_: None)
    out.with_suffix(".log.jsonl").unlink()
    (w0, c0), (w1, c1) = stamps[WARMUP], stamps[WARMUP + steps]
    return w1 - w0, c1 - c0


def batch_ms(data, tcfg, steps: int) -> float:
    clock = Clock()
    for step in range(steps):
        collate(data.batch(tcfg, step), *data.patch_shape)
    return clock.read()[1] / steps * 1e3


def optimizer_ms(cfg, vocab, fused: bool, repeats: int = 20) -> float:
    """Median CPU ms of one AdamW step over the preset model's parameters."""
    model = build_model(cfg, vocab, seed=0)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused)
    times = []
    for _ in range(repeats + 2):
        clock = Clock()
        opt.step()
        times.append(clock.read()[1])
    return statistics.median(times[2:]) * 1e3


COLUMNS = [("tok_s", "6.0f"), ("tok_cpu_s", "6.0f"), ("gflop_s", "5.1f"), ("peak", "5.1f"),
           ("mfu_wall", "6.1%"), ("mfu_cpu", "6.1%")]  # fmt: skip


def best_median(rounds: list[dict], key: str, fmt: str) -> str:
    values = [r[key] for r in rounds]
    return f"{max(values):{fmt}} ({statistics.median(values):{fmt}})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small", choices=["tiny", "small"])
    ap.add_argument("--steps", type=int, default=6, help="timed steps per run")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--attn", default="eager,sdpa", help="attention kernels to compare")
    ap.add_argument("--n-scenes", type=int, default=1_000_000, help="training scene pool")
    ap.add_argument("--proxy", default=None, help="time tuning batches with this proxy")
    args = ap.parse_args()

    cfg, tcfg, vocab, data = build(args.preset, args.n_scenes, args.proxy)
    n_params = matmul_params(build_model(cfg, vocab, seed=0))
    flops, tokens = 0, 0
    for step in range(WARMUP, WARMUP + args.steps):  # the very batches the timed steps see
        f, t = step_flops(data.batch(tcfg, step), n_params, cfg.n_layers, cfg.d_model)
        flops, tokens = flops + f, tokens + t
    print(f"preset {args.preset}: d_model {cfg.d_model}, {cfg.n_layers} layers, vocab "
          f"{len(vocab)}, N = {n_params / 1e6:.2f} M matmul parameters, batch "
          f"{tcfg.batch_size}, {tokens / args.steps:.0f} tokens/step, "
          f"{flops / tokens / 1e6:.1f} MFLOP/token, proxy {args.proxy}")  # fmt: skip
    print(f"load average before: {os.getloadavg()}")

    threads = [int(t) for t in args.threads.split(",")]
    configs = [(n, a) for n in threads for a in args.attn.split(",")]
    runs: dict[tuple[int, str], list[dict]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for n, a in configs:
                torch.set_num_threads(n)
                peak_wall, peak_cpu = matmul_peak()
                wall, cpu = time_steps(cfg, tcfg, vocab, data, args.steps, a, Path(tmp))
                runs[n, a].append({
                    "tok_s": tokens / wall, "tok_cpu_s": tokens / cpu,
                    "gflop_s": flops / wall / 1e9, "peak": peak_wall,
                    "mfu_wall": flops / wall / 1e9 / peak_wall,
                    "mfu_cpu": flops / cpu / 1e9 / peak_cpu,
                })  # fmt: skip
                print(f"  round {r}: {n} thread(s) {a:5s} {tokens / wall:6.0f} tokens/s, "
                      f"{flops / wall / 1e9:5.1f} GFLOP/s, peak {peak_wall:5.1f} GFLOP/s; "
                      f"{tokens / cpu:6.0f} tokens/CPU-s", flush=True)  # fmt: skip

    print("\nbest (median) over rounds; MFU by the wall clock against the same round's peak, and "
          "by the CPU clock")  # fmt: skip
    names = ("tokens/s", "tokens/CPU-s", "GFLOP/s", "peak GFLOP/s", "MFU wall", "MFU CPU")
    print(f"{'threads':>7} {'attn':>5} " + " ".join(f"{c:>15}" for c in names))
    for (n, a), rs in runs.items():
        cols = [best_median(rs, key, fmt) for key, fmt in COLUMNS]
        print(f"{n:>7} {a:>5} " + " ".join(f"{c:>15}" for c in cols))

    torch.set_num_threads(threads[0])
    print(f"\nmeasured alone at {threads[0]} thread(s), CPU ms per step:")
    print(f"  TrainStream.batch + collate: {batch_ms(data, tcfg, args.steps):.1f}")
    for fused in (False, True):
        print(f"  AdamW step, {'fused' if fused else 'for-loop':8s}: "
              f"{optimizer_ms(cfg, vocab, fused):.1f}")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
