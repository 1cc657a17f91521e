"""Image decoding with prompts of every length in one batch (left-padded, masked) against
batches by prompt length: the time of each, and the share of codes and of whole images that
both draw alike.

    python benchmarks/decode_bench.py sgt_probe/bases/shapes-small.pt --n 512

Each setting is timed `--repeats` times, alternating, in one process (the machine's load moves
both alike); the table prints each one's best time and the ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sgt_probe.evals.benchmarks import GENERATION_GUIDANCE, GENERATION_TEMPERATURE, eval_data
from sgt_probe.model.generate import generate_codes
from sgt_probe.sources.open import open_sources


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--n", type=int, default=512, help="held-out scenes (prompts)")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    [source] = open_sources([args.checkpoint])
    model, vocab = source.loaded.model, source.loaded.vocab
    data = eval_data(source, args.n)
    items = [data.generation(i, with_target=False) for i in range(len(data))]
    lengths = sorted({len(it.ids) for it in items})
    cases = {"greedy": {}, f"T={GENERATION_TEMPERATURE}": {"temperature": GENERATION_TEMPERATURE}}
    if source.guidable:
        unconditional = [data.generation(i, False, unconditional=True) for i in range(len(data))]
        cases["guided (the benchmark's)"] = {"temperature": GENERATION_TEMPERATURE,
                                             "unconditional": unconditional,
                                             "guidance": GENERATION_GUIDANCE}  # fmt: skip
    print(f"{args.checkpoint}: {len(items)} prompts of {len(lengths)} lengths {lengths}")
    print(
        f"{'decoding':<26}{'by length s':>12}{'padded s':>10}{'ratio':>7}"
        f"{'codes equal':>13}{'images equal':>14}"
    )
    for name, kw in cases.items():
        best, codes = {False: np.inf, True: np.inf}, {}
        for _ in range(args.repeats):
            for padded in (False, True):
                t0 = time.perf_counter()
                codes[padded] = generate_codes(model, items, vocab, padded=padded, **kw)
                best[padded] = min(best[padded], time.perf_counter() - t0)
        # sampled draws read a CDF that padding changes by float rounding: where it sits on a
        # boundary, a draw (and every later one of that image) can differ
        codes_equal = (codes[False] == codes[True]).mean()
        images_equal = (codes[False] == codes[True]).all(1).mean()
        print(f"{name:<26}{best[False]:>12.2f}{best[True]:>10.2f}"
              f"{best[False] / best[True]:>7.2f}{codes_equal:>13.3f}{images_equal:>14.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
