"""`sgt-probe standin emu3|janus|chameleon --out DIR [--seed N]`: a tiny random Hugging Face
model directory, to try compare, eval and tune on a real unified architecture offline
(sgt_probe.sources.standin)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sgt_probe.cli import UserError, app
from sgt_probe.cli.options import Seed, out_dir

standin_app = typer.Typer(help="Write a tiny random model directory.", no_args_is_help=True)
app.add_typer(standin_app, name="standin")

OutDir = Annotated[Path, typer.Option(callback=out_dir, help="model directory to write")]


def _write(kind: str, out: Path, seed: int) -> None:
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; choose another --out")
    from sgt_probe.sources.standin import write_standin  # only now: it imports transformers

    t0 = time.perf_counter()
    write_standin(out, seed, kind)
    Console(stderr=True).print(f"wrote {out} in {time.perf_counter() - t0:.1f}s")


@standin_app.command()
def emu3(out: OutDir, seed: Seed = 0) -> None:
    """A 4-layer Emu3ForConditionalGeneration with its processor and a tokenizer built here."""
    _write("emu3", out, seed)


@standin_app.command()
def janus(out: OutDir, seed: Seed = 0) -> None:
    """A 4-layer JanusForConditionalGeneration (vision encoder, generation VQ model and head)
    with its processor and a tokenizer built here."""
    _write("janus", out, seed)


@standin_app.command()
def chameleon(out: OutDir, seed: Seed = 0) -> None:
    """A 4-layer ChameleonForConditionalGeneration with its processor, a tokenizer built here
    and the VQ-GAN decoder transformers' port lacks."""
    _write("chameleon", out, seed)
