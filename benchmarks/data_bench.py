"""Data pipeline throughput: scenes generated per second (shapes, digits) and the VQ tokenizer's
fit time and encode/decode speed in patches per second.

    python benchmarks/data_bench.py
    python benchmarks/data_bench.py --scenes 2000 --encode-images 20000 --threads 1

Each figure is the best of --repeats runs, so load from other processes counts less.
"""

import argparse
import time

import numpy as np
import torch

from sgt_probe.data import DataSpec, make_world
from sgt_probe.tokenizer import fit_tokenizer


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=1000, help="scenes generated per world")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--fit-scenes", type=int, default=512)
    parser.add_argument("--n-codes", type=int, default=256)
    parser.add_argument("--encode-images", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}, image size {args.image_size}")

    for name in ("shapes", "digits"):
        world = make_world(DataSpec(world=name, image_size=args.image_size))
        world.scene(0)  # loads the digit images once, outside the timing
        # scenes are rebuilt from (seed, index) on every call: repeating an index range costs
        # the same as a fresh one
        t = best_time(lambda w=world: w.scenes(0, args.scenes), args.repeats)
        print(f"{name:>7}: {args.scenes / t:9.0f} scenes/s  ({args.scenes} scenes in {t:.2f}s)")

    world = make_world(DataSpec(world="shapes", image_size=args.image_size))
    t0 = time.perf_counter()
    tok = fit_tokenizer(world, n_scenes=args.fit_scenes, n_codes=args.n_codes)
    fit_s = time.perf_counter() - t0
    print(
        f"tokenizer fit: {fit_s:.2f}s ({args.fit_scenes} scenes x 5 image kinds, {args.n_codes} codes)"
    )

    scenes = world.scenes(0, min(args.encode_images, 2000))
    base = np.stack([s.image for s in scenes])  # tiled up to --encode-images
    images = np.resize(base, (args.encode_images, *base.shape[1:]))
    n_patches = args.encode_images * (args.image_size // tok.patch_size) ** 2
    t = best_time(lambda: tok.encode(images), args.repeats)
    print(
        f"encode: {n_patches / t / 1e6:6.2f} M patches/s  ({args.encode_images} images in {t:.2f}s)"
    )
    codes = tok.encode(images)
    t = best_time(lambda: tok.decode(codes, args.image_size), args.repeats)
    print(f"decode: {n_patches / t / 1e6:6.2f} M patches/s")


if __name__ == "__main__":
    main()
