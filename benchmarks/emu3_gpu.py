"""The Emu3 path on a GPU: stand-ins, tuning (whole and LoRA, bfloat16), compare and eval on
CUDA, each step timed with its peak GPU memory; then one hooked forward of a 2-layer random
Emu3 of Emu3-8B's width at both image sizes docs/models.md's note uses, to check its figures per
sample and per hooked layer.

    python benchmarks/emu3_gpu.py [--out runs/emu3-gpu] [--steps 20]
    python benchmarks/emu3_gpu.py --device cpu --steps 2 --n-scenes 8 --n-probe-scenes 8 \
        --width 256 --ffn 512 --vocab 4096   # a dry run of the script on a CPU

Every step runs in this process (so torch's peak-memory counter sees it) and a step that fails
prints its error and lets the next run: one pass gives all it can. Prints one table.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import traceback
from pathlib import Path

import torch

ROWS: list[tuple[str, float, str, str]] = []


def step(name: str, device: str):
    """`with step(name, device):` records the block's wall seconds and peak GPU memory, and
    turns an exception into a FAILED row (the next step still runs)."""

    class Timer:
        def __enter__(self):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            self.t0 = time.perf_counter()
            return self

        def __exit__(self, kind, error, tb):
            seconds = time.perf_counter() - self.t0
            peak = "n/a"
            if device.startswith("cuda"):
                torch.cuda.synchronize()
                peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
            note = "ok" if error is None else f"FAILED: {error!r}"[:120]
            if error is not None:
                traceback.print_exception(kind, error, tb)
            ROWS.append((name, seconds, peak, note))
            return kind is not None and issubclass(kind, Exception)

    return Timer()


def cli(*argv: str) -> None:
    from sgt_probe.cli import main

    code = main(list(argv))
    if code:
        raise RuntimeError(f"sgt-probe {' '.join(argv)} exited {code}")


def standin_path(out: Path, args, device: str) -> None:
    steps = args.steps
    a, b, sgt, lora = (out / n for n in ("a", "b", "a-sgt", "a-lora"))
    tune = ["--proxy", "segmentation", "--world", "shapes", "--steps", str(steps),
            "--batch-size", "8", "--device", device]  # fmt: skip
    with step("standin emu3 (seed 0)", device):
        cli("standin", "emu3", "--out", str(a), "--seed", "0")
    with step("standin emu3 (seed 1)", device):
        cli("standin", "emu3", "--out", str(b), "--seed", "1")
    with step(f"tune, whole model, {steps} steps", device):
        cli("tune", str(a), "--out", str(sgt), *tune)
    with step(f"tune --lora, {steps} steps", device):
        cli("tune", str(a), "--out", str(lora), "--lora", *tune)
    with step("from_pretrained(tuned) on the device", device):
        from transformers import Emu3ForConditionalGeneration

        model = Emu3ForConditionalGeneration.from_pretrained(sgt).to(device)
        expected = torch.bfloat16 if device.startswith("cuda") else torch.float32
        if model.dtype != expected:
            raise RuntimeError(f"tuned weights are {model.dtype}, not {expected}")
    with step("compare a a-sgt a-lora b (every suite)", device):
        cli("compare", str(a), str(sgt), str(lora), str(b), "--world", "shapes",
            "--out", str(out / "report"), "--device", device, "--n-scenes", str(args.n_scenes),
            "--n-probe-scenes", str(args.n_probe_scenes))  # fmt: skip
    with step("the report loads; the dashboard serves it", device):
        from sgt_probe.app.app import create_app
        from sgt_probe.report.format import load_report

        report = load_report(out / "report")
        missing = [s for s in ("benchmarks", "probes", "attention", "knockout", "cka",
                               "embeddings") if getattr(report.data, s) is None]  # fmt: skip
        if missing:
            raise RuntimeError(f"suites not filled: {missing}")
        if create_app([out / "report"]).server.test_client().get("/").status_code != 200:
            raise RuntimeError("the dashboard did not serve the report")
    with step("eval a-sgt", device):
        cli("eval", str(sgt), "--device", device, "--n", str(args.n_scenes))


def wide_forward(args, device: str) -> None:
    """A hooked forward of one sample at T tokens through a 2-layer random Emu3 of the given
    width: what one sample costs per hooked layer (residual, pattern), measured."""
    from transformers import Emu3Config, Emu3ForConditionalGeneration, Emu3TextConfig

    from sgt_probe.capture.bridge import boot, pattern_name, resid_name
    from sgt_probe.sources.standin import build_config, build_tokenizer

    tokenizer = build_tokenizer()
    small = build_config(tokenizer.get_vocab())
    text = Emu3TextConfig(
        vocab_size=args.vocab, hidden_size=args.width, intermediate_size=args.ffn,
        num_hidden_layers=2, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
        max_position_embeddings=8192, pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    config = Emu3Config(text_config=text, vq_config=small.vq_config,
                        vocabulary_map=small.vocabulary_map)  # fmt: skip
    config.architectures = ["Emu3ForConditionalGeneration"]
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    bridge = None
    with step(f"build a 2-layer Emu3 of width {args.width}", device):
        model = Emu3ForConditionalGeneration(config).to(device, dtype).eval()
        model.set_attn_implementation("eager")
        with tempfile.TemporaryDirectory() as d:
            tokenizer.save_pretrained(d)
            from transformers import AutoTokenizer

            bridge = boot(model, AutoTokenizer.from_pretrained(d), name="emu3-wide")
    if bridge is None:
        return
    weights = torch.cuda.memory_allocated() if device.startswith("cuda") else 0
    for label, tokens in (("256x256 image", 1090), ("512x512 image", 4185)):
        for hooks in ([resid_name(1)], [resid_name(1), pattern_name(1)]):
            names = "+".join(h.split(".")[-1] for h in hooks)
            with step(f"hooked forward, {label} (T={tokens}), {names}", device):
                ids = torch.randint(0, args.vocab, (1, tokens), device=device)
                with torch.no_grad():
                    _, cache = bridge.run_with_cache(ids, names_filter=lambda n, h=hooks: n in h)
                sizes = {k.split(".")[-1]: v.nelement() * v.element_size() / 2**20
                         for k, v in cache.items()}  # fmt: skip
                above = ""
                if device.startswith("cuda"):
                    extra = (torch.cuda.max_memory_allocated() - weights) / 2**30
                    above = f"; peak above the weights {extra:.2f} GiB"
                print(f"{label}: cached MiB per layer {sizes}{above}")
                del cache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/emu3-gpu"))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--n-scenes", type=int, default=64)
    ap.add_argument("--n-probe-scenes", type=int, default=160)
    ap.add_argument("--device", default="cuda")
    # Emu3-8B's width (Emu3-Chat-hf): docs/models.md's note is computed for it
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--ffn", type=int, default=14336)
    ap.add_argument("--vocab", type=int, default=184622)
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("CUDA is not available; pass --device cpu for a dry run")
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    if args.device.startswith("cuda"):
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        print(f"{torch.cuda.get_device_name()}, {total:.0f} GiB")
    standin_path(args.out, args, args.device)
    wide_forward(args, args.device)
    print(f"\n{'step':72s} {'seconds':>8s} {'peak GPU':>11s}  result")
    for name, seconds, peak, note in ROWS:
        print(f"{name:72s} {seconds:8.1f} {peak:>11s}  {note}")


if __name__ == "__main__":
    main()
