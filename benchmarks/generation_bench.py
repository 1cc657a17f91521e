"""What limits a checkpoint's generation score: the tokenizer's ceiling and the decoding.

1. The judge on held-out ground truth (`Judge.validate`: "eval" split scenes, never fitted by
   the tokenizer), crisp and round-tripped through the checkpoint's tokenizer: per prompt
   family, the share of each scene's own prompt judged true, and (mean over families) of a
   decidably false prompt judged false.
   Generated images cannot score above the round-tripped row.
2. The generation benchmark at several decoding settings, each beside its shuffled-prompt
   floor (the same images judged against another scene's prompt of the family). Choose a
   setting with `--split train` (the last n scenes of the training split: prompts the eval
   never asks), then read it on the eval split, so the choice is not fitted to the scores.

    python benchmarks/generation_bench.py sgt_probe/bases/shapes-small.pt --n 256
"""

import argparse
import time

import numpy as np
import torch

from sgt_probe.data.scene import PROMPT_FAMILIES
from sgt_probe.evals import benchmarks
from sgt_probe.evals.judge import prompt_holds
from sgt_probe.model.generate import generate_codes
from sgt_probe.model.loading import load_model
from sgt_probe.sources.checkpoint import CheckpointSource

# (temperature, top_k, classifier-free guidance); guided settings only for a model trained with
# prompt dropout
SETTINGS = [(0.0, 0, 1.0), (0.7, 0, 1.0), (1.0, 0, 1.0), (1.0, 32, 1.0),
            (1.0, 0, 1.5), (1.0, 0, 2.0), (1.0, 0, 3.0), (1.0, 0, 4.0), (1.0, 32, 2.0)]  # fmt: skip


def _settings(text: str) -> list[tuple[float, int, float]]:
    try:
        return [(float(t), int(k), float(g)) for t, k, g in (c.split(",") for c in text.split(";"))]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 'T,top_k,guidance;...'") from None


def judge_ceiling(source, judge, n: int) -> None:
    print(f"judge on {n} held-out ground-truth images: own prompt passes | false prompt refused")
    for name, tokenizer in [("crisp", None), ("round-tripped", source.judge_tokenizer)]:
        r = judge.validate(n, tokenizer=tokenizer)
        cells = "  ".join(f"{f} {v:.2f}" for f, v in r["gt"].items())
        print(f"  {name:13s} {cells} | {np.mean(list(r['negative'].values())):.3f}")


def decoding(source, data, split: str, settings=SETTINGS) -> None:
    print(f"generation on {len(data)} {split}-split prompts: score / shuffled-prompt floor")
    items = [data.generation(i, with_target=False) for i in range(len(data))]
    unconditional = (  # guided settings run only for a model trained with prompt dropout
        [data.generation(i, False, unconditional=True) for i in range(len(data))]
        if source.guidable
        else None
    )
    judge = benchmarks.judge_for(data.world, source.judge_tokenizer)
    prompts = [s.prompt for s in data.scenes]
    ld = source.loaded
    for temperature, top_k, guidance in settings:
        if guidance != 1 and not source.guidable:
            continue
        t0 = time.perf_counter()
        guide = {"unconditional": unconditional, "guidance": guidance} if guidance != 1 else {}
        codes = generate_codes(ld.model, items, ld.vocab, temperature=temperature, top_k=top_k,
                               **guide)  # fmt: skip
        images = source.decode(codes)
        out = []
        for i, found in enumerate(judge.detect_all(images)):
            other = benchmarks._same_family_other(prompts, i)
            out.append({"family": prompts[i].family, "correct": prompt_holds(found, prompts[i].spec),
                        "control": other is not None and prompt_holds(found, other.spec)})  # fmt: skip
        score = benchmarks.family_scores(out, PROMPT_FAMILIES)
        floor = benchmarks.family_scores(out, PROMPT_FAMILIES, key="control")
        fams = "  ".join(f"{f[:6]} {v:.2f}" for f, v in score["families"].items())
        print(f"  T {temperature:.1f} top-k {top_k:3d} cfg {guidance:.1f}: {score['overall']:.3f} / "
              f"{floor['overall']:.3f}   {fams}   ({time.perf_counter() - t0:.0f} s)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--n", type=int, default=256, help="scenes")
    ap.add_argument("--split", choices=("eval", "train"), default="eval",
                    help="prompts for the decoding table: eval (held out), or the training "
                    "split's last n scenes, to choose a setting on")  # fmt: skip
    ap.add_argument("--settings", type=_settings, default=SETTINGS,
                    help="decoding settings to try instead of the default list, as "
                    "'T,top_k,guidance;...' (e.g. '1,0,4;0.7,0,4')")  # fmt: skip
    ap.add_argument("--no-ceiling", action="store_true", help="skip the judge's ceiling rows")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    source = CheckpointSource(load_model(args.checkpoint))
    world = source.world()
    scenes = world.split(args.split)
    data = source.task_data(world, scenes[: args.n] if args.split == "eval" else scenes[-args.n :])
    if not args.no_ceiling:
        judge_ceiling(source, benchmarks.judge_for(world, source.judge_tokenizer), args.n)
    decoding(source, data, args.split, args.settings)


if __name__ == "__main__":
    main()
