"""`sgt-probe data preview` and `sgt-probe data stats`: look at a world before training on it."""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sgt_probe.cli import app
from sgt_probe.cli.options import FolderPath, ImageSize, Seed, World, out_file, scenes_fit

data_app = typer.Typer(help="Preview a scene world and count what is in it.", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console()
status = Console(stderr=True)


def _world(world: str, path: Path | None, seed: int, image_size: int):
    from sgt_probe.data import DataSpec, make_world

    folder = str(path) if path else None
    return make_world(DataSpec(world=world, seed=seed, image_size=image_size, path=folder))


@contextmanager
def _working(what: str):
    """A spinner on stderr for steps that take seconds (tokenizer fitting)."""
    columns = (SpinnerColumn(), TextColumn(what), TimeElapsedColumn())
    with Progress(*columns, console=status, transient=True) as progress:
        progress.add_task(what, total=None)
        yield


@data_app.command()
def preview(
    out: Annotated[Path, typer.Option(callback=out_file, help="PNG to write")] = Path(
        "preview.png"
    ),
    world: World = "shapes",
    path: FolderPath = None,
    n: Annotated[int, typer.Option(min=1, help="samples to show")] = 16,
    seed: Seed = 0,
    image_size: ImageSize = 32,
    n_codes: Annotated[int, typer.Option(min=2, help="VQ codebook size")] = 256,
    patch_size: Annotated[int, typer.Option(min=1, help="VQ patch side in pixels")] = 4,
    fit_scenes: Annotated[
        int, typer.Option(min=1, help="scenes the VQ tokenizer is fitted on")
    ] = 512,
) -> None:
    """Write a PNG grid: image, segmentation, depth, edges and the VQ round trip per sample."""
    from sgt_probe.data.preview import preview_grid, tile_size

    if image_size % patch_size:
        raise typer.BadParameter(f"{patch_size} does not divide --image-size {image_size}",
                                 param_hint="'--patch-size'")  # fmt: skip
    scenes_fit("--n", n, image_size, each=3 * math.prod(tile_size(image_size)))  # + its tile
    from sgt_probe.tokenizer import IMAGE_KINDS, fit_tokenizer

    # each fitted scene gives one image of every kind, and k-means needs a patch per code
    scenes_fit("--fit-scenes", fit_scenes, image_size, each=3 * len(IMAGE_KINDS) * image_size**2)
    patches = fit_scenes * len(IMAGE_KINDS) * (image_size // patch_size) ** 2
    if n_codes > patches:
        raise typer.BadParameter(f"{n_codes} codes are more than the {patches:,} patches of "
                                 f"--fit-scenes {fit_scenes}", param_hint="'--n-codes'")  # fmt: skip
    w = _world(world, path, seed, image_size)
    # fitted on the first scenes whatever their split: a preview also works on a folder too
    # small to split into train and eval
    fit = range(min(fit_scenes, len(w)))
    with _working("fitting the VQ tokenizer"):
        tok = fit_tokenizer(w, n_codes=n_codes, patch_size=patch_size, indices=fit)
    picture = preview_grid(w, n, tok)
    out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(out)
    status.print(f"wrote {out} ({picture.width}x{picture.height})")


def _table(title: str, columns: list[str], rows: list[list]) -> Table:
    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    return table


@data_app.command()
def stats(
    world: World = "shapes",
    path: FolderPath = None,
    n: Annotated[int, typer.Option(min=1, help="scenes to count")] = 1000,
    seed: Seed = 0,
    image_size: ImageSize = 32,
) -> None:
    """Print counts per semantic class, question family (with answer balance) and prompt family."""
    from sgt_probe.data.preview import world_stats

    scenes_fit("--n", n, image_size)  # counted over scenes rendered and held at once
    s = world_stats(_world(world, path, seed, image_size), n)
    console.print(f"{world}: {s['n_scenes']} scenes")
    console.print(
        _table(
            "semantic classes",
            ["class", "pixels", "objects"],
            [[name, c["pixels"], c["objects"]] for name, c in s["classes"].items()],
        )
    )
    console.print(
        _table(
            "question families",
            ["family", "questions", "answers"],
            [
                [f, count, ", ".join(f"{a} {k}" for a, k in s["answers"][f].items())]
                for f, count in s["questions"].items()
            ],
        )
    )
    console.print(
        _table("prompt families", ["family", "prompts"], [[f, k] for f, k in s["prompts"].items()])
    )
