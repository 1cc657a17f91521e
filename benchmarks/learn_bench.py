"""Learning curves: train a configuration for a compute budget and score held-out scenes along
the way, so every change to training is chosen by what it does to held-out competence.

    python benchmarks/learn_bench.py --world shapes --preset small --steps 4000 --every 500
    python benchmarks/learn_bench.py --set train.lr=2e-3 --set train.caption_share=0 ...
    python benchmarks/learn_bench.py --tune runs/base.pt --proxy segmentation --steps 300
    python benchmarks/learn_bench.py --init-from sgt_probe/bases/shapes-small.pt --steps 2000
    python benchmarks/learn_bench.py --watch runs/base.pt --every 2000   # a run in progress
    python benchmarks/learn_bench.py --watch runs/base.pt --steps 14000  # a run being extended

At each checkpoint (every --every steps) the checkpoint just written is loaded as any user
would load it and evaluated on --n-eval held-out scenes: understanding per question family
beside its floor (a blind answerer's accuracy: the answer most common for the family in
training, among the item's choices), generation per prompt family beside its floor (the same
images judged against another scene's prompt), and with --proxy the proxy's own metric. One
table row per checkpoint, with wall minutes and each task's training loss; --json writes the
rows too. Threads default to 1 (set --threads), so two configurations can run side by side on
two cores and compare fairly. --watch evaluates the checkpoints another process writes (e.g.
`sgt-probe train`), each time its step passes a multiple of --every, until it is finished.
"""

from __future__ import annotations

import argparse
import ast
import json
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sgt_probe.data import PROMPT_FAMILIES, QUESTION_FAMILIES, DataSpec
from sgt_probe.evals.benchmarks import evaluate
from sgt_probe.model.loading import load_model
from sgt_probe.sources.checkpoint import CheckpointSource
from sgt_probe.tuning.runner import train_base, tune

SHORT = {"count": "cnt", "relation": "rel", "depth": "dep", "distance": "dist",
         "existence": "exist", "single_object": "one", "two_objects": "two", "counting": "count",
         "comparison": "cmp", "category": "cat", "colors": "color", "position": "pos",
         "color_attribution": "attr"}  # fmt: skip


def overrides(pairs: list[str]) -> dict[str, dict]:
    """--set model.d_model=192 --set train.lr=2e-3 -> {"model": {...}, "train": {...}}."""
    out: dict[str, dict] = {"model": {}, "train": {}}
    for pair in pairs:
        key, value = pair.split("=", 1)
        part, name = key.split(".", 1)
        try:
            out[part][name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[part][name] = value
    return out


def row(step: int, minutes: float, ckpt_path: Path, args) -> dict:
    loaded = load_model(ckpt_path)
    proxies = (args.proxy,) if args.proxy and args.proxy != "none" else ()
    result = evaluate(CheckpointSource(loaded), n_scenes=args.n_eval, proxies=proxies,
                      generation=not args.no_gen)  # fmt: skip
    last = loaded.ckpt["history"][-1]
    # the checkpoint read (a watched run may have written a later step since `step`)
    out = {"step": loaded.ckpt["step"], "minutes": minutes,
           "loss": {k[5:]: v for k, v in last.items() if k.startswith("loss/")}}  # fmt: skip
    for bench in ("understanding", "generation"):
        if bench in result:
            r = result[bench]
            out[bench] = {"overall": r["overall"], "families": r["families"],
                          "floor": r["floor"]}  # fmt: skip
    out["proxy"] = dict(result["proxy_quality"])  # keyed by metric name already
    return out


def print_rows(rows: list[dict], title: str) -> None:
    table = Table(title=title, title_justify="left")
    for col in ("step", "min", "loss (u c g p)"):
        table.add_column(col, justify="right")
    first = rows[0]
    ufams = [
        f for f in QUESTION_FAMILIES if f in first.get("understanding", {}).get("families", {})
    ]
    gfams = [f for f in PROMPT_FAMILIES if f in first.get("generation", {}).get("families", {})]
    if "understanding" in first:
        table.add_column("und.", justify="right", style="bold")
        for f in ufams:
            table.add_column(SHORT[f], justify="right")
    if "generation" in first:
        table.add_column("gen.", justify="right", style="bold")
        for f in gfams:
            table.add_column(SHORT[f], justify="right")
    for k in first["proxy"]:
        table.add_column(k, justify="right")

    def cells(bench: str, fams: list[str], r: dict) -> list[str]:
        b = r[bench]
        return [f"{b['overall']:.3f}"] + [f"{b['families'].get(f, float('nan')):.2f}" for f in fams]

    for r in [floor_row(first), *rows]:
        line = [str(r["step"]), "" if r["minutes"] is None else f"{r['minutes']:.1f}",
                " ".join(f"{k[0]}{v:.2f}" for k, v in r["loss"].items())]  # fmt: skip
        if "understanding" in first:
            line += cells("understanding", ufams, r)
        if "generation" in first:
            line += cells("generation", gfams, r)
        line += [f"{v:.3f}" for v in r["proxy"].values()] or []
        line += [""] * (len(table.columns) - len(line))
        table.add_row(*line, style="dim" if r["step"] == "floor" else None)
    Console(width=200).print(table)  # wide even when piped to a log file


def floor_row(first: dict) -> dict:
    """The floors, laid out as a result row (they do not depend on the model)."""
    out = {"step": "floor", "minutes": None, "loss": {}, "proxy": {}}
    for bench in ("understanding", "generation"):
        if bench in first:
            out[bench] = first[bench]["floor"]
    return out


def watch(args, on_checkpoint, poll: float = 30.0) -> None:
    """Evaluate `args.watch` each time its step passes a multiple of --every (checkpoints are
    replaced atomically, so the file read is always a whole one)."""
    from sgt_probe.checkpoint import load_checkpoint

    done = 0
    while True:
        if args.watch.exists():
            ckpt = load_checkpoint(args.watch)
            step, total = ckpt["step"], args.steps or ckpt["train_config"]["steps"]
            if step // args.every > done // args.every or (step == total and step > done):
                on_checkpoint(step)
                done = step
            if step >= total:
                return
        time.sleep(poll)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", default="shapes")
    ap.add_argument("--preset", default="small")
    ap.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps to train (default 2000); with --watch, the step to watch to "
        "(default: the run's own, which a run extended by --resume --steps passes)",
    )
    ap.add_argument("--every", type=int, default=500, help="evaluate every N steps")
    ap.add_argument("--n-eval", type=int, default=256, help="held-out scenes per evaluation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="model.X=V or train.X=V")
    ap.add_argument("--tune", type=Path, help="tune this base instead of training a base")
    ap.add_argument("--proxy", default=None, help="proxy to tune with and to score")
    ap.add_argument(
        "--recipe", default=None, help="with --tune: the tuning recipe (default: paper)"
    )
    ap.add_argument(
        "--init-from", type=Path, help="start the base from this one (train --init-from)"
    )
    ap.add_argument("--no-gen", action="store_true", help="skip the generation benchmark")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, help="checkpoint path (default: a temporary dir)")
    ap.add_argument("--watch", type=Path, help="evaluate this run's checkpoints as they appear")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    over = overrides(args.set)
    train = {"seed": args.seed, "steps": args.steps or 2000, "ckpt_every": args.every,
             **over["train"]}  # fmt: skip
    tmp = tempfile.TemporaryDirectory()
    out = args.out or Path(tmp.name) / "run.pt"
    rows: list[dict] = []
    t0 = time.perf_counter()

    def on_checkpoint_of(path: Path):
        def on_checkpoint(step: int) -> None:
            rows.append(row(step, (time.perf_counter() - t0) / 60, path, args))
            print_rows(rows[-1:], f"step {step}")
            if args.json:
                args.json.write_text(json.dumps({"argv": vars(args) | {"out": str(path)},
                                                 "rows": rows}, indent=1, default=str))  # fmt: skip

        return on_checkpoint

    on_checkpoint = on_checkpoint_of(out)
    if args.watch:
        watch(args, on_checkpoint_of(args.watch))
    elif args.tune:
        tune(args.tune, args.proxy or "segmentation", out, train, recipe=args.recipe,
             device="cpu", on_checkpoint=on_checkpoint)  # fmt: skip
    else:
        spec = DataSpec(world=args.world, seed=args.seed)
        train_base(spec, out, args.preset, over["model"], train, device="cpu",
                   on_checkpoint=on_checkpoint, init=args.init_from)  # fmt: skip
    what = (
        f"tune {args.tune} with {args.proxy}"
        if args.tune
        else f"{args.preset} base on {args.world}"
    )
    print_rows(rows, f"{what}: held-out scores by step ({args.n_eval} scenes)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
