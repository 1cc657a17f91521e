#!/usr/bin/env bash
# The CUDA path in one short run (for a lent GPU machine whose image has torch, transformers
# and scikit-learn but no transformer-lens): train, tune and eval on cuda, then the probe
# suite on GPU against the scikit-learn loop. Usage: bash benchmarks/gpu_check.sh
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name())"
out=$(mktemp -d)
t0=$(date +%s)
timeout 200 python3 -m sgt_probe.cli train --preset small --steps 200 --out "$out/base.pt" --device cuda 2>&1 | tr '\r' '\n' | tail -2
t1=$(date +%s); echo "train small 200 steps on cuda: $((t1 - t0)) s"
timeout 120 python3 -m sgt_probe.cli tune "$out/base.pt" --proxy segmentation --steps 100 --out "$out/seg.pt" --device cuda 2>&1 | tr '\r' '\n' | tail -2
t2=$(date +%s); echo "tune small 100 steps on cuda: $((t2 - t1)) s"
timeout 150 python3 -m sgt_probe.cli eval "$out/seg.pt" --n 64 --device cuda 2>&1 | tail -22
t3=$(date +%s); echo "eval on cuda: $((t3 - t2)) s"
timeout 240 python3 benchmarks/probe_bench.py --layers 8 --patches 20000 --dim 256 2>&1 | tail -25
