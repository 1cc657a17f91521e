"""`sgt-probe train`, `tune` and `eval`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sgt_probe.cli import app

console = Console(stderr=True)


def _done(out: Path, t0: float) -> None:
    # under torchrun every rank runs this command; only rank 0 wrote the checkpoint
    if os.environ.get("RANK", "0") == "0":
        console.print(f"wrote {out} in {time.perf_counter() - t0:.1f}s")


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="checkpoint to write")] = Path("runs/base.pt"),
    world: Annotated[str, typer.Option(help="shapes | digits | folder")] = "shapes",
    path: Annotated[str | None, typer.Option(help="data dir for --world folder")] = None,
    preset: Annotated[str, typer.Option(help="tiny | small")] = "tiny",
    seed: int = 0,
    steps: Annotated[int | None, typer.Option(help="override the preset's step count")] = None,
    image_size: int = 32,
    vision_input: Annotated[str, typer.Option(help="patch | vq")] = "patch",
    resume: Annotated[bool, typer.Option(help="continue an interrupted run at --out")] = False,
    device: Annotated[
        str | None, typer.Option(help="cpu | cuda (default: cuda if present)")
    ] = None,
) -> None:
    """Base training: understanding (QA) and generation (prompt -> image codes)."""
    from sgt_probe.data.spec import DataSpec
    from sgt_probe.tuning.runner import train_base

    spec = DataSpec(world=world, seed=seed, image_size=image_size, path=path)
    overrides = {"seed": seed, **({"steps": steps} if steps else {})}
    t0 = time.perf_counter()
    train_base(spec, out, preset, {"vision_input": vision_input}, overrides, resume, device)
    _done(out, t0)


@app.command()
def tune(
    base: Annotated[Path, typer.Argument(help="base checkpoint")],
    proxy: Annotated[
        str, typer.Option(help="segmentation|depth|edge|reconstruction|inpainting|none")
    ],
    out: Annotated[Path, typer.Option(help="checkpoint to write")],
    ratio: Annotated[float | None, typer.Option(help="share of each batch on the proxy")] = None,
    steps: Annotated[int | None, typer.Option(help="override the preset's step count")] = None,
    seed: Annotated[int, typer.Option(help="batch-order seed")] = 0,
    resume: bool = False,
    device: str | None = None,
) -> None:
    """SGT tuning: mix a generative proxy task into the base tasks (same step budget)."""
    from sgt_probe.tuning.runner import tune as run_tune

    overrides = {"seed": seed}
    if ratio is not None:
        overrides["proxy_ratio"] = ratio
    if steps:
        overrides["steps"] = steps
    t0 = time.perf_counter()
    run_tune(base, proxy, out, overrides, resume, device)
    _done(out, t0)


def print_eval(name: str, result: dict) -> None:
    table = Table(title=f"eval: {name}")
    table.add_column("benchmark")
    table.add_column("family")
    table.add_column("score", justify="right")
    for bench in ("understanding", "generation"):
        if bench not in result:
            continue
        table.add_row(bench, "overall", f"{result[bench]['overall']:.3f}", style="bold")
        for fam, v in result[bench]["families"].items():
            table.add_row("", fam, f"{v:.3f}")
    for k, v in result.get("proxy_quality", {}).items():
        table.add_row("proxy", k, f"{v:.3f}")
    Console().print(table)


@app.command("eval")
def eval_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint to evaluate")],
    n: Annotated[int, typer.Option(help="held-out scenes")] = 64,
    proxies: Annotated[str, typer.Option(help="comma-separated proxies to score")] = "",
    out: Annotated[Path | None, typer.Option(help="write the JSON result here")] = None,
    device: str | None = None,
) -> None:
    """Understanding, generation and proxy-quality benchmarks, with per-item results."""
    from sgt_probe.device import default_device
    from sgt_probe.evals.benchmarks import evaluate
    from sgt_probe.model.loading import load_model

    loaded = load_model(checkpoint, device or default_device())
    chosen = [p for p in proxies.split(",") if p] or [loaded.proxy or "segmentation"]
    result = evaluate(loaded, n_scenes=n, proxies=chosen)
    print_eval(checkpoint.name, result)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
        console.print(f"wrote {out}")
