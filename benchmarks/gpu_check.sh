#!/usr/bin/env bash
# The whole study on a GPU: `reproduce --preset small --seeds 3` on cuda, timed, job by job.
# For a lent GPU machine whose image has torch, transformers and scikit-learn but not the rest:
# wheels for those (transformer-lens, umap-learn, plotly, ...) travel in .whl/ and install into
# /tmp/site first. Then the compare of two tiny checkpoints on cuda, stage by stage, twice (the
# second run reads the caches the first wrote). Usage: bash benchmarks/gpu_check.sh [SECONDS] [OUTDIR]
set -uo pipefail
limit=${1:-480}
out=${2:-${OUT:-/tmp}}
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TQDM_DISABLE=1
python3 -c "import torch, transformer_lens, umap; from importlib.metadata import version as v; print(*(f'{p} {v(p)}' for p in ('torch', 'transformers', 'transformer-lens')), torch.cuda.get_device_name())" || exit 1
nproc
t0=$(date +%s)
timeout "$limit" python3 -m sgt_probe.cli reproduce --preset small --seeds 3 --out /tmp/repro 2>&1 | tee "$out/reproduce.log"
echo "reproduce exit ${PIPESTATUS[0]} after $(( $(date +%s) - t0 )) s"
cp /tmp/repro/figures/proxy_taxonomy.json "$out/" 2>/dev/null
python3 - <<'EOF'
import json, pathlib
for f in sorted(pathlib.Path("/tmp/repro").glob("*/seed*/report/report.json")):
    r = json.loads(f.read_text())
    print(f.parent.parent, {k: round(v, 1) for k, v in r["timings"].items()})
EOF
for run in first second; do
  echo "compare of two checkpoints on cuda, $run run"
  timeout 300 python3 benchmarks/compare_bench.py --sizes 2 --device cuda --ckpts /tmp/compare_bench 2>&1 | tee -a "$out/compare_bench.log"
done
