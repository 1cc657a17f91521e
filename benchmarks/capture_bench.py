"""Capture throughput and memory.

1. Throughput: hooked capture through TransformerBridge (residual stream of every layer and
   attention patterns, names_filter on exactly those) against the plain HF forward that returns
   hidden states and attentions, on the same batches, in the same run. Prints items/s and the
   overhead ratio (aim: <= 1.15x).
2. Memory: peak RSS of a sharded capture of N and 4N samples, each in a fresh subprocess so
   peaks do not mix (aim: flat).

    python benchmarks/capture_bench.py [--n 256] [--batch 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

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


def time_it(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def throughput(n: int, batch: int, repeats: int) -> None:
    spec, cfg, vocab, tok, items = setup(n)
    # Booting swaps the wrapped model's attention modules, so the plain baseline runs on its
    # own copy with the same weights (same seed).
    plain = build_model(cfg, vocab, seed=0).eval()
    wrapped = build_model(cfg, vocab, seed=0).eval()
    runner = CheckpointSource(Loaded(None, {}, wrapped, vocab, tok, spec)).runner()
    names = [resid_name(i) for i in range(cfg.n_layers)]
    names += [pattern_name(i) for i in range(cfg.n_layers)]
    batches = [b for _, _, b in runner.batches(items, batch)]

    @torch.no_grad()
    def hf():
        for b in batches:
            out = plain(b["input_ids"], b["pixels"], output_hidden_states=True,
                        output_attentions=True)  # fmt: skip
            assert len(out.attentions) == cfg.n_layers

    def hooked():
        for b in batches:
            _, cache = runner.run(b, names)
            assert len(cache) == len(names)

    t_hf, t_hook = time_it(hf, repeats), time_it(hooked, repeats)
    print(f"threads={torch.get_num_threads()}  items={n}  batch={batch}  "
          f"model d={cfg.d_model} L={cfg.n_layers}")  # fmt: skip
    print(f"plain HF forward (hidden states + attentions): {n / t_hf:8.1f} items/s")
    print(f"hooked capture via TransformerBridge:          {n / t_hook:8.1f} items/s")
    print(f"overhead ratio (hooked / plain time):          {t_hook / t_hf:8.3f}x  (aim <= 1.15x)")


def rss_child(n: int) -> None:
    """Run one sharded capture of n samples and print the peak RSS (MiB) as JSON."""
    import resource

    spec, cfg, vocab, tok, items = setup(n)
    model = build_model(cfg, vocab, seed=0).eval()
    runner = CheckpointSource(Loaded(None, {}, model, vocab, tok, spec)).runner()
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
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
    else:
        throughput(args.n, args.batch, args.repeats)
        memory(args.n)
