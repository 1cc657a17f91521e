"""`sgt-probe train`, `tune` and `eval`; `tune` and `eval` also read a Hugging Face model
directory (sgt_probe.sources)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sgt_probe.cli import UserError, app
from sgt_probe.cli.options import (
    Checkpoint,
    Device,
    EvalFraction,
    FolderPath,
    ImageSize,
    InitFrom,
    ModelImageSize,
    ModelWorld,
    OutCheckpoint,
    Preset,
    Proxy,
    Recipe,
    Resume,
    Seed,
    Steps,
    VisionInput,
    World,
    between,
    fits,
    model_world,
    names_from,
    out_dir,
    out_file,
    scene_side,
    scenes_fit,
)
from sgt_probe.data.proxies import PROXIES
from sgt_probe.model.limits import SEED_MAX, Sizes, scene_bytes

console = Console(stderr=True)


def _done(out: Path, t0: float) -> None:
    # under torchrun every rank runs this command; only rank 0 wrote the checkpoint
    if os.environ.get("RANK", "0") == "0":
        console.print(f"wrote {out} in {time.perf_counter() - t0:.1f}s")


@app.command()
def train(
    out: OutCheckpoint = Path("runs/base.pt"),
    world: World = "shapes",
    path: FolderPath = None,
    eval_fraction: EvalFraction = 0.2,
    preset: Preset = "tiny",
    seed: Seed = 0,
    steps: Steps = None,
    image_size: ImageSize = 32,
    vision_input: VisionInput = "patch",
    resume: Resume = False,
    init_from: InitFrom = None,
    device: Device = None,
) -> None:
    """Base training: understanding (QA) and generation (prompt -> image codes)."""
    from sgt_probe.data.spec import DataSpec
    from sgt_probe.tuning import check_fresh

    folder = str(path) if path else None
    spec = DataSpec(world, seed, image_size, path=folder, eval_fraction=eval_fraction)
    check_fresh(out, resume)
    if init_from and resume:
        raise UserError("--init-from starts a run and --resume continues one: pass one")
    from sgt_probe.tuning.runner import train_base  # only now: it imports the training stack

    overrides = {"seed": seed, **({"steps": steps} if steps else {})}
    t0 = time.perf_counter()
    train_base(spec, out, preset, {"vision_input": vision_input}, overrides, resume, device,
               init=init_from)  # fmt: skip
    _done(out, t0)


def _batch_fits(n: int, sizes: Sizes, image_size: int) -> None:
    """--batch-size: each step renders n scenes and holds n sequences' activations at once."""
    need = n * (scene_bytes(image_size) + sizes.batch_bytes(1))
    fits("--batch-size", need, f"a batch of {n:,} items")


@app.command()
def tune(
    base: Checkpoint,
    proxy: Proxy,
    out: Annotated[
        Path,
        typer.Option(help="checkpoint (.pt) to write; for a model directory, the directory"),
    ],
    recipe: Recipe = "paper",
    ratio: Annotated[
        float | None,
        typer.Option(callback=between(0, 1), help="share of each batch on the proxy"),
    ] = None,
    steps: Steps = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="override the preset's batch size")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="batch-order seed")] = 0,
    world: ModelWorld = None,
    path: FolderPath = None,
    image_size: ModelImageSize = None,
    lora: Annotated[
        bool, typer.Option(help="a model directory: train LoRA adapters, not the whole model")
    ] = False,
    resume: Resume = False,
    device: Device = None,
) -> None:
    """SGT tuning: mix a generative proxy task into the base tasks (same step budget)."""
    from sgt_probe.tuning import check_fresh

    spec = model_world(world, path, image_size)
    try:
        (out_dir if base.is_dir() else out_file)(out)
    except typer.BadParameter as e:
        raise UserError(f"Invalid value for '--out': {e.message}") from None
    if base.is_dir():
        from sgt_probe.sources.hfdir import check_tunable  # light: reads JSON only

        check_tunable(base)
        if spec is None:
            raise UserError(
                f"{base}: a model directory is tuned on the world you name; pass --world"
            )
    elif spec is not None or lora:
        raise UserError(
            "--world, --path, --image-size and --lora are for a model directory; a checkpoint "
            f"is tuned on the world it was trained on ({base})"
        )
    check_fresh(out, resume)
    overrides = {"seed": seed}
    if ratio is not None:
        overrides["proxy_ratio"] = ratio
    if steps:
        overrides["steps"] = steps
    if batch_size:
        overrides["batch_size"] = batch_size
    t0 = time.perf_counter()
    if base.is_dir():
        from sgt_probe.sources.hfdir import model_sizes  # light: reads JSON only

        if batch_size:
            _batch_fits(batch_size, model_sizes(base), spec.image_size)
        from sgt_probe.sources.tuning import tune_dir  # only now: the training stack

        tune_dir(base, proxy, out, spec, overrides, lora, resume, device, recipe=recipe)
    else:
        from sgt_probe.model.checks import sizes
        from sgt_probe.model.config import ModelConfig
        from sgt_probe.model.loading import read_checkpoint

        ckpt = read_checkpoint(base)  # a bad base is refused before the training stack is imported
        if batch_size:
            cfg = ModelConfig.from_dict(ckpt["model_config"])
            _batch_fits(batch_size, sizes(cfg), ckpt["data_spec"]["image_size"])
        from sgt_probe.tuning.runner import tune as run_tune

        run_tune(base, proxy, out, overrides, resume, device, recipe=recipe)
    _done(out, t0)


def print_eval(name: str, result: dict) -> None:
    table = Table(title=f"eval: {name}")
    table.add_column("benchmark")
    table.add_column("family")
    table.add_column("score", justify="right")
    for bench in ("understanding", "generation"):
        if bench not in result or "skipped" in result[bench]:
            continue
        table.add_row(bench, "overall", f"{result[bench]['overall']:.3f}", style="bold")
        for fam, v in result[bench]["families"].items():
            table.add_row("", fam, f"{v:.3f}")
    leak = result.get("generation", {}).get("leak")
    if leak:  # generated scenes the leak detector calls a proxy's map (evals/leak.py)
        table.add_row("proxy leak", "scenes drawn as maps", f"{leak['map_rate']:.3f}")
    for k, v in result.get("proxy_quality", {}).items():
        table.add_row("proxy", k, f"{v:.3f}")
    Console().print(table)
    for bench in ("understanding", "generation"):
        if "skipped" in result.get(bench, {}):
            console.print(f"{bench} skipped: {result[bench]['skipped']}")


@app.command("eval")
def eval_cmd(
    checkpoint: Checkpoint,
    n: Annotated[int, typer.Option(min=1, help="held-out scenes")] = 64,
    proxies: Annotated[
        str | None,
        typer.Option(callback=names_from(PROXIES), help="comma-separated proxies to score"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(callback=out_file, help="write the JSON result here")
    ] = None,
    world: ModelWorld = None,
    path: FolderPath = None,
    image_size: ModelImageSize = None,
    device: Device = None,
) -> None:
    """Understanding, generation and proxy-quality benchmarks, with per-item results."""
    from sgt_probe.model.loading import read_checkpoint
    from sgt_probe.sources.hfdir import read_sidecar

    spec = model_world(world, path, image_size)
    # a model directory was checked while parsing; a bad file is refused before the evals are
    # imported
    record = (read_sidecar if checkpoint.is_dir() else read_checkpoint)(checkpoint)
    scenes_fit("--n", n, scene_side(spec, [record]))
    from sgt_probe.device import default_device
    from sgt_probe.sources.open import open_sources

    [source] = open_sources([checkpoint], spec, device or default_device())
    from sgt_probe.evals.benchmarks import evaluate

    chosen = proxies.split(",") if proxies else [source.proxy or "segmentation"]
    result = evaluate(source, n_scenes=n, proxies=chosen)
    print_eval(checkpoint.name, result)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")  # whole or not at all, even when interrupted
        try:
            tmp.write_text(json.dumps(result, indent=1))
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
        console.print(f"wrote {out}")


@app.command()
def export(
    checkpoint: Checkpoint,
    out: Annotated[
        Path | None, typer.Option(callback=out_file, help="file to write (default: in place)")
    ] = None,
) -> None:
    """Keep only what tuning and analysis read: drop the optimizer and RNG state (about two
    thirds of a checkpoint), e.g. to ship a finished base. The result cannot be resumed."""
    from sgt_probe.checkpoint import load_checkpoint, save_checkpoint
    from sgt_probe.model.loading import load_model

    load_model(checkpoint)  # the whole contents are checked before anything is written
    ckpt = load_checkpoint(checkpoint)
    if ckpt["step"] < ckpt["train_config"]["steps"]:
        raise UserError(
            f"{checkpoint} is at step {ckpt['step']} of {ckpt['train_config']['steps']}; "
            "export a finished run"
        )
    kept = {
        k: v for k, v in ckpt.items() if k not in ("optimizer", "rng", "format", "format_version")
    }
    out = out or checkpoint
    save_checkpoint(out, kept)
    console.print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")
