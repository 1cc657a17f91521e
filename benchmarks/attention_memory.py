"""Peak memory of the attention suite, every layer's pattern stacked against each layer's reduced
inside the hooks (`attention.reduce`), for a random model of a chosen width, heads and layers at
several sequence lengths; the statistics of the two must agree.

    python benchmarks/attention_memory.py [--width 256] [--heads 8] [--layers 8] \\
        [--lengths 256,576,1040] [--batch-size 1] [--device cpu]

Each (length, mode) runs in a fresh process: the suite's own functions (`attention_stats` over
understanding and segmentation-proxy items, the explorer's `text_image_attention`) through a
TransformerBridge over a random Llama decoder. An understanding item is `<bos>`, P image tokens
and 16 question, cue and answer tokens (T = P + 17, docs/models.md's T); a proxy item also draws P
tokens (2P + 20). Peak memory is the process's resident-set high-water mark above what it held
before the suite ran (Linux: VmHWM reset through /proc/self/clear_refs), or, on CUDA, torch's
peak allocation above the weights (glibc is told to map every large block, so that a freed
one leaves the resident set). Prints a table per length (with the per-layer pattern of one
proxy item, in float32, and each mode's peak in those units) and, last:

    attention peak: stacked X MiB, streamed Y MiB (T=..., L=...)

at the largest length. Exit status 1 when the two modes' statistics differ by more than 1e-6.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

QUESTION, CUE = 13, 2  # question words (with the named object's), answer cue tokens
TOL = 1e-6


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def build(args, n_image: int) -> SimpleNamespace:
    """A random decoder's runner and the suite's inputs for P = n_image: understanding items
    (qa, scenes, objects, qa_types), proxy items, generation items (gen, gen_types)."""
    import numpy as np
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from sgt_probe.capture.bridge import HookedRunner, ImageGrid, boot
    from sgt_probe.model.sequences import (
        ROLE_ANSWER,
        ROLE_GENERATED,
        ROLE_IMAGE,
        ROLE_SPECIAL,
        ROLE_TASK,
        ROLE_TEXT,
        Item,
    )

    vocab = 512
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=args.width, intermediate_size=2 * args.width,
                         num_hidden_layers=args.layers, num_attention_heads=args.heads,
                         max_position_embeddings=4 * n_image + 64)  # fmt: skip
    config.architectures = ["LlamaForCausalLM"]
    dtype = getattr(torch, args.dtype)
    model = LlamaForCausalLM(config).to(args.device, dtype).eval()
    model.set_attn_implementation("eager")
    with tempfile.TemporaryDirectory() as d:  # booting offline reads a tokenizer from disk
        words = {f"w{i}": i for i in range(vocab)}
        tk = Tokenizer(models.WordLevel(words, unk_token="w0"))
        tk.pre_tokenizer = pre_tokenizers.Whitespace()
        PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="w1", eos_token="w2",
                                pad_token="w0").save_pretrained(d)  # fmt: skip
        bridge = boot(model, PreTrainedTokenizerFast.from_pretrained(d), name="attention-memory")
    g = math.isqrt(n_image)
    runner = HookedRunner(bridge, ImageGrid(g, 1), device=args.device)
    rng = np.random.default_rng(0)

    def ids(n):
        return rng.integers(3, vocab, n).tolist()

    image = [ROLE_SPECIAL] + [ROLE_IMAGE] * g * g
    qa, scenes, objects, proxy = [], [], [], []
    for k in range(args.n_qa):
        roles = image + [ROLE_TEXT] * QUESTION + [ROLE_TASK] * CUE + [ROLE_ANSWER]
        qa.append(Item([1, *ids(len(roles) - 1)], roles, len(roles) - 1, None, "understanding"))
        inst = np.zeros((g, g), np.int64)  # a square object, a quarter of the image's side
        inst[k % (g // 2) : k % (g // 2) + g // 4, g // 4 : g // 2] = 1
        scenes.append(SimpleNamespace(instances=inst))
        objects.append(1)
    for _ in range(args.n_proxy):
        roles = image + [ROLE_TASK] * 3 + [ROLE_GENERATED] * (g * g + 1)
        proxy.append(Item([1, *ids(len(roles) - 1)], roles, len(image) + 3, None, "segmentation"))
    # generation items: a prompt, then the drawn image; every text word gets a word type
    gen = []
    for _ in range(args.n_proxy):
        roles = [ROLE_SPECIAL] + [ROLE_TEXT] * QUESTION + [ROLE_GENERATED] * (g * g + 1)
        gen.append(Item([1, *ids(len(roles) - 1)], roles, QUESTION + 1, None, "generation"))

    def types(item):  # a WORD_TYPES index (5 of them) for each text word, -1 elsewhere
        return [int(rng.integers(0, 5)) if r == ROLE_TEXT else -1 for r in item.roles]

    return SimpleNamespace(runner=runner, qa=qa, scenes=scenes, objects=objects, proxy=proxy,
                           qa_types=[types(it) for it in qa], gen=gen,
                           gen_types=[types(it) for it in gen])  # fmt: skip


def suite_stats(b: SimpleNamespace, batch_size: int, n_boot: int, stream: bool):
    """The attention suite's statistics of one checkpoint (allocation included) over `b`."""
    from sgt_probe.compare.suites.attention import attention_stats

    stats, _ = attention_stats(b.runner, b.qa, b.scenes, b.objects, b.proxy, batch_size,
                               n_boot=n_boot, qa_types=b.qa_types, gen_items=b.gen,
                               gen_types=b.gen_types, stream=stream)  # fmt: skip
    return stats


def child(args) -> None:
    """One measurement: the suite's attention statistics and explorer maps in one mode."""
    import torch

    from sgt_probe.compare.suites.attention import text_image_attention

    torch.set_num_threads(args.threads)
    b = build(args, args.child_image)
    runner, qa = b.runner, b.qa
    cuda = torch.device(args.device).type == "cuda"
    # a warm-up on a short item: kernels and allocator pools exist before the measurement
    runner.run(next(runner.batches(qa[:1], 1))[2], ())
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = _status_kib("VmRSS") * 1024
        if not _reset_peak():
            raise SystemExit("cannot reset the peak RSS (/proc/self/clear_refs); use Linux")
    t0 = time.perf_counter()
    stream = args.child_mode == "streamed"
    stats = suite_stats(b, args.batch_size, n_boot=20, stream=stream)
    maps = None
    if stream:  # the explorer's maps: the same in both modes, measured with the streamed one
        maps = text_image_attention(runner, qa[: args.n_explorer], args.batch_size)
    seconds = time.perf_counter() - t0
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = _status_kib("VmHWM") * 1024 - before
    result = {"peak": peak, "seconds": seconds, "stats": stats.model_dump(),
              "maps": None if maps is None else float(maps.astype("float64").sum())}  # fmt: skip
    print(json.dumps(result))


def leaves(node, path=""):
    if isinstance(node, dict):
        return {k: v for key, sub in node.items() for k, v in leaves(sub, f"{path}.{key}").items()}
    if isinstance(node, list):
        return {k: v for i, sub in enumerate(node) for k, v in leaves(sub, f"{path}.{i}").items()}
    return {path: node}


def max_diff(a: dict, b: dict) -> float:
    la, lb = leaves(a), leaves(b)
    if la.keys() != lb.keys():
        return math.inf
    worst = 0.0
    for k, va in la.items():
        vb = lb[k]
        if isinstance(va, float) and isinstance(vb, float):
            if not (math.isnan(va) and math.isnan(vb)):
                worst = max(worst, abs(va - vb))
        elif va != vb:
            return math.inf
    return worst


def measure(args, n_image: int, mode: str) -> dict:
    argv = [sys.executable, __file__, "--child-mode", mode, "--child-image", str(n_image)]
    for key in ("width", "heads", "layers", "batch_size", "device", "dtype", "n_qa", "n_proxy",
                "n_explorer", "threads"):  # fmt: skip
        argv += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    # glibc serves large blocks from its heap once one was freed (a dynamic mmap threshold), and
    # a heap keeps freed blocks resident: a fixed threshold maps every large block and unmaps it
    # when freed, so the resident high-water mark follows live memory
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**16)}
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {mode} run at P={n_image} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--lengths", default="273,593,1041",
                    help="understanding sequence lengths T (P = T - 17 image tokens, rounded "
                         "down to a square)")  # fmt: skip
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--n-qa", type=int, default=2, help="understanding items")
    ap.add_argument("--n-proxy", type=int, default=1,
                    help="segmentation-proxy items, and as many generation items")  # fmt: skip
    ap.add_argument("--n-explorer", type=int, default=2, help="items whose maps are kept")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child-mode", choices=["stacked", "streamed"], help=argparse.SUPPRESS)
    ap.add_argument("--child-image", type=int, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child_mode:
        child(args)
        return 0
    mib = 2**20
    rows, worst = [], 0.0
    print(f"random Llama decoder: width {args.width}, {args.heads} heads, {args.layers} layers, "
          f"{args.dtype} on {args.device}; batch {args.batch_size}, {args.n_qa} understanding + "
          f"{args.n_proxy} proxy + {args.n_proxy} generation items, {args.n_explorer} explorer "
          "maps")  # fmt: skip
    print(
        f"{'T':>6} {'proxy T':>8} {'layer pattern':>14} {'stacked':>12} {'streamed':>12} "
        f"{'ratio':>6} {'stacked/pattern':>16} {'streamed/pattern':>17} {'max diff':>9}"
    )
    for length in (int(x) for x in args.lengths.split(",")):
        g = math.isqrt(max(4, length - QUESTION - CUE - 2))
        n_image = g * g
        t_qa, t_proxy = n_image + QUESTION + CUE + 2, 2 * n_image + 5
        runs = {mode: measure(args, n_image, mode) for mode in ("stacked", "streamed")}
        diff = max_diff(runs["stacked"]["stats"], runs["streamed"]["stats"])
        worst = max(worst, diff)
        # one layer's pattern of one batch of proxy items (the suite's longest), in float32
        pattern = args.batch_size * args.heads * t_proxy**2 * 4
        s, st = runs["stacked"]["peak"], runs["streamed"]["peak"]
        rows.append((t_qa, s, st))
        print(f"{t_qa:>6} {t_proxy:>8} {pattern / mib:>10.1f} MiB {s / mib:>8.1f} MiB "
              f"{st / mib:>8.1f} MiB {st / s:>6.3f} {s / pattern:>16.2f} {st / pattern:>17.2f} "
              f"{diff:>9.1e}")  # fmt: skip
    t_qa, s, st = rows[-1]
    print(f"statistics: stacked and streamed differ by at most {worst:.1e} (tolerance {TOL:g})")
    print(
        f"attention peak: stacked {s / mib:.0f} MiB, streamed {st / mib:.0f} MiB "
        f"(T={t_qa}, L={args.layers})"
    )
    return 0 if worst <= TOL else 1


if __name__ == "__main__":
    sys.exit(main())
