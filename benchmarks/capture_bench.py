"""Capture throughput and memory.

1. Throughput: hooked capture through TransformerBridge (residual stream of every layer and
   attention patterns, names_filter on exactly those) against the plain HF forward that returns
   hidden states and attentions, on the same batches, in the same run, the two taking turns
   (best of --repeats each). Prints items/s, the overhead ratio (aim: <= 1.15x) and what the
   bridge costs with no hook cached, with the residual hooks only and with the patterns only.
2. Memory: peak RSS of a sharded capture of N and 4N samples, each in a fresh subprocess so
   peaks do not mix (aim: flat).

    python benchmarks/capture_bench.py [--n 256] [--batch 32] [--repeats 5] [--no-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import sgt_probe  # noqa: F401  (first: its OMP_WAIT_POLICY must be set before torch loads)

# isort: split
import torch

from sgt_probe.capture.activations import ShardWriter, capture_residuals
from sgt_probe.capture.bridge import pattern_name, resid_name
from sgt_probe.data import DataSpec, make_world
from sgt_probe.model.config import ModelConfig
from sgt_probe.model.loading import Loaded, build_model
from sgt_probe.model.vocab import Vocab
from sgt_probe.sources.checkpoint import CheckpointSource
from sgt_probe.tokenizer import fit_tokenizer
from sgt_probe.tuning.taskdata import TaskData


def setup(n: int, seed: int = 0):
    spec = DataSpec()
    world = make_world(spec)
    cfg = ModelConfig()  # the tiny preset's model
    tok = fit_tokenizer(world, n_scenes=64, n_codes=cfg.n_codes, seed=seed)
    vocab = Vocab.build(world.words(), cfg.n_codes)
    data = TaskData(world, tok, vocab, cfg, range(n))
    items = [data.understanding(i, 0) for i in range(n)]
    return spec, cfg, vocab, tok, items


def time_interleaved(fns: dict, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall time and best CPU time (this process's, all threads) of each fn over `repeats`
    rounds, the fns taking turns within a round, so a load that comes and goes on a shared
    machine weighs on all of them alike. CPU time counts the work done, not the waiting for a
    core that other processes hold: on a loaded machine it is the steadier of the two."""
    for fn in fns.values():
        fn()  # warm-up
    wall = dict.fromkeys(fns, float("inf"))
    cpu = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name] = min(wall[name], time.perf_counter() - t0)
            cpu[name] = min(cpu[name], time.process_time() - c0)
    return wall, cpu


def throughput(n: int, batch: int, repeats: int) -> None:
    spec, cfg, vocab, tok, items = setup(n)
    # Booting swaps the wrapped model's attention modules, so the plain baseline runs on its
    # own copy with the same weights (same seed).
    plain = build_model(cfg, vocab, seed=0).eval()
    wrapped = build_model(cfg, vocab, seed=0).eval()
    runner = CheckpointSource(Loaded(None, wrapped, vocab, tok, spec)).runner()
    # the same bridge as TransformerLens leaves it: every norm computes hook_scale's statistics
    as_booted = build_model(cfg, vocab, seed=0).eval()
    runner_tl = CheckpointSource(Loaded(None, as_booted, vocab, tok, spec)).runner()
    for module in runner_tl.bridge.modules():
        module.__dict__.pop("_hf_autograd_forward_with_hooks", None)
    resid = [resid_name(i) for i in range(cfg.n_layers)]
    patterns = [pattern_name(i) for i in range(cfg.n_layers)]
    batches = [b for _, _, b in runner.batches(items, batch)]

    @torch.no_grad()
    def hf():
        for b in batches:
            out = plain(b["input_ids"], b["pixels"], output_hidden_states=True,
                        output_attentions=True)  # fmt: skip
            assert len(out.attentions) == cfg.n_layers

    def hooked(names, runner=runner):
        def run():
            for b in batches:
                _, cache = runner.run(b, names)
                assert len(cache) == len(names)

        return run

    t, cpu = time_interleaved({"hf": hf, "all": hooked(resid + patterns), "none": hooked([]),
                          "resid": hooked(resid), "pattern": hooked(patterns),
                          "tl": hooked(resid + patterns, runner_tl)}, repeats)  # fmt: skip
    print(f"threads={torch.get_num_threads()}  items={n}  batch={batch}  repeats={repeats}  "
          f"model d={cfg.d_model} L={cfg.n_layers}  load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"plain HF forward (hidden states + attentions): {n / t['hf']:8.1f} items/s")
    print(f"hooked capture via TransformerBridge:          {n / t['all']:8.1f} items/s")
    print(f"{'what the bridge costs, as a share of the plain forward:':<58}{'wall':>9}{'CPU':>9}")
    for key, label in (("none", "bridge, no hook cached"),
                       ("resid", f"+ {len(resid)} hook_resid_post"),
                       ("pattern", f"+ {len(patterns)} hook_pattern"),
                       ("all", "+ both (the capture)"),
                       ("tl", "the capture, norms as TransformerLens boots them")):  # fmt: skip
        print(f"  {label:<56}{t[key] / t['hf']:8.3f}x{cpu[key] / cpu['hf']:8.3f}x")
    print(f"overhead ratio (hooked / plain time): {t['all'] / t['hf']:.3f}x wall, "
          f"{cpu['all'] / cpu['hf']:.3f}x CPU time  (aim <= 1.15x)")  # fmt: skip


def rss_child(n: int) -> None:
    """Run one sharded capture of n samples and print the peak RSS (MiB) as JSON."""
    import resource

    spec, cfg, vocab, tok, items = setup(n)
    model = build_model(cfg, vocab, seed=0).eval()
    runner = CheckpointSource(Loaded(None, model, vocab, tok, spec)).runner()
    with tempfile.TemporaryDirectory() as d:
        store = capture_residuals(runner, items, list(range(cfg.n_layers)),
                                  sink=ShardWriter(d, list(range(cfg.n_layers)), 4096),
                                  progress=False)  # fmt: skip
        rows = store.n_rows
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n, "rows": rows, "peak_rss_mib": peak}))


def memory(n: int) -> None:
    peaks = []
    for k in (n, 4 * n):
        out = subprocess.run([sys.executable, __file__, "--rss-child", str(k)], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        r = json.loads(out.strip().splitlines()[-1])
        peaks.append(r["peak_rss_mib"])
        print(f"sharded capture of {k:5d} samples ({r['rows']} patch rows): "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB")  # fmt: skip
    print(f"peak RSS ratio 4x / 1x samples: {peaks[1] / peaks[0]:.3f}  (aim: ~1, flat)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-memory", action="store_true", help="throughput only")
    ap.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
    else:
        throughput(args.n, args.batch, args.repeats)
        if not args.no_memory:
            memory(args.n)
