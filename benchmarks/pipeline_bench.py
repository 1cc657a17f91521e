"""Wall time of a shrunk study, in this process (--jobs 1) against worker processes (--jobs N).

    python benchmarks/pipeline_bench.py                 # small preset, 2 seeds, jobs 1 vs 2
    python benchmarks/pipeline_bench.py --jobs 1 4 --seeds 3

The same pipeline (`sgt_probe.pipeline.run_pipeline`: per seed a base, three tunings and a
compare) runs from scratch once per --jobs value, each in a fresh directory, in the order given;
the first is the baseline every ratio is taken against. Steps and compare sizes are cut so a
round takes minutes, not the study's hour; the shape of the job graph is the study's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sgt_probe.cli.reproduce import study_runs
from sgt_probe.pipeline import run_pipeline

PROXIES = ["none", "segmentation", "depth"]
SHRUNK = {"train": {"steps": 80, "ckpt_every": 1000}, "tune": {"steps": 40, "ckpt_every": 1000}}
COMPARE = {"n_scenes": 16, "n_probe_scenes": 32, "n_explorer": 2, "n_embed_scenes": 4,
           "n_boot": 200}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    times = {}
    for jobs in args.jobs:
        with tempfile.TemporaryDirectory() as tmp:
            runs = study_runs(Path(tmp), args.preset, args.seeds, ["shapes"], PROXIES,
                              COMPARE, SHRUNK)  # fmt: skip
            t0 = time.perf_counter()
            run_pipeline(runs, "cpu", jobs)
            times[jobs] = time.perf_counter() - t0
    base = args.jobs[0]
    print(f"\n{args.preset}, {args.seeds} seeds x (base, {len(PROXIES)} tunings, compare)")
    for jobs, t in times.items():
        print(f"  jobs={jobs}: {t:6.1f} s   x{times[base] / t:.2f} vs jobs={base}")


if __name__ == "__main__":
    main()
