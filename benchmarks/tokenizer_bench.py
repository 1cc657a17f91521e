"""Which VQ-VAE the generation judge can read: fit tokenizer variants and judge round-tripped truth.

    python benchmarks/tokenizer_bench.py --world digits                          # the preset's VQ-VAE
    python benchmarks/tokenizer_bench.py --world digits --variant n_codes=1024 \
        --variant object_weight=8.0 --variant n_codes=512,steps=6000

Each variant is a set of `VQVAETokenizer` arguments over its defaults (the `small` preset's
tokenizer: 512 codes, 2,500 steps). It is fitted as base training fits one (`fit_images`: the
first 4,000 training scenes, every image kind), then the judge is built with it (`judge_for`,
as compare builds it: its shape classifier also reads round-tripped renders) and validated on
the first --n held-out scenes round-tripped through it: per prompt family, the share of scenes
whose own prompt is judged true (generated images cannot score above this), and the share of
decidably false prompts judged false; beside them round-trip PSNR of scenes and segmentation
maps. --kinds fits on other kinds or mixes (`--kinds scene` alone is a diagnostic: maps suffer).
A fit takes about 25 minutes on one CPU thread; run variants as separate processes for more
cores.
"""

from __future__ import annotations

import argparse
import ast
import json
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from sgt_probe.data import PROMPT_FAMILIES, DataSpec, make_world
from sgt_probe.evals.benchmarks import judge_for
from sgt_probe.tokenizer import (
    FIT_SCENES,
    IMAGE_KINDS,
    VQVAETokenizer,
    fit_images,
    tokenizer_report,
)

SHORT = {"single_object": "one", "two_objects": "two", "counting": "count", "colors": "color",
         "position": "pos", "color_attribution": "attr"}  # fmt: skip


def variant(text: str) -> dict:
    """'n_codes=1024,object_weight=8.0' -> {"n_codes": 1024, "object_weight": 8.0}; '' -> {}."""
    out = {}
    for pair in filter(None, text.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{pair!r}: expected name=value")
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise argparse.ArgumentTypeError(f"{pair!r}: the value is not a number") from None
    try:
        VQVAETokenizer(**out)
    except (TypeError, ValueError) as err:  # an unknown argument, or a value it refuses
        raise argparse.ArgumentTypeError(f"{text!r}: {err}") from None
    return out


def kinds(text: str) -> list[str]:
    """'scene,scene,segmentation' -> those kinds, checked against IMAGE_KINDS."""
    out = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in out if k not in IMAGE_KINDS]
    if bad or not out:
        raise argparse.ArgumentTypeError(f"{text!r}: kinds are {', '.join(IMAGE_KINDS)}")
    return out


def measure(world, images: np.ndarray, kw: dict, n: int) -> dict:
    t0 = time.perf_counter()
    tok = VQVAETokenizer(**kw).fit(images, progress=True)
    fit_s = time.perf_counter() - t0
    r = judge_for(world, tok).validate(n, tokenizer=tok)
    return {"variant": kw, "fit_s": round(fit_s), "gt": r["gt"],
            "refused": float(np.mean(list(r["negative"].values()))),
            "psnr": tokenizer_report(tok, world)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", choices=("shapes", "digits"), default="digits")
    ap.add_argument("--variant", type=variant, action="append",
                    help="VQVAETokenizer arguments, 'name=value,...' (repeat; default: none)")  # fmt: skip
    ap.add_argument("--n", type=int, default=512, help="held-out scenes to judge")
    ap.add_argument("--fit-scenes", type=int, default=FIT_SCENES["vqvae"],
                    help="training scenes to fit on (base training: %(default)s)")  # fmt: skip
    ap.add_argument("--kinds", type=kinds, default=list(IMAGE_KINDS),
                    help="image kinds to fit on, comma-separated; a kind named twice is drawn "
                    "twice as often (default: every kind, as base training)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    world = make_world(DataSpec(world=args.world))
    images = fit_images(world, world.split("train")[: args.fit_scenes], args.kinds)
    rows = [measure(world, images, kw, args.n) for kw in args.variant or [{}]]
    table = Table(title=f"judge on {args.n} held-out {args.world} scenes, VQ round-tripped "
                  f"(fitted on {','.join(args.kinds)}): "
                  "own prompt passes | false prompts refused | round-trip PSNR (dB)")  # fmt: skip
    for column in ("variant", "fit s", *(SHORT[f] for f in PROMPT_FAMILIES), "min", "refused",
                   "psnr scene", "psnr map"):  # fmt: skip
        table.add_column(column, justify="left" if column == "variant" else "right")
    for r in rows:
        gt = [r["gt"][f] for f in PROMPT_FAMILIES]
        table.add_row(",".join(f"{k}={v}" for k, v in r["variant"].items()) or "(defaults)",
                      str(r["fit_s"]), *(f"{v:.2f}" for v in gt), f"{min(gt):.2f}",
                      f"{r['refused']:.3f}", f"{r['psnr']['scene']:.1f}",
                      f"{r['psnr']['segmentation']:.1f}")  # fmt: skip
    Console(width=160).print(table)  # a piped run keeps every column
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
