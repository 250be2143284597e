#!/usr/bin/env bash
# The whole GPU check in one call (for a lent GPU machine with a short time budget): the pretraining step and the
# embedding path at ESM-2 650M shapes, each against stock transformers, results under $OUT (or ./gpu-results).
# Usage: bash benchmarks/gpu_all.sh   (expects .venv, or a python with protst_hf installed, on PATH)
set -uo pipefail
cd "$(dirname "$0")"
OUT="${OUT:-gpu-results}"
mkdir -p "$OUT"
PY="${PYTHON:-$( [ -x ../.venv/bin/python ] && echo ../.venv/bin/python || echo python )}"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
timeout 300 "$PY" gpu_embed.py 2>&1 | tee "$OUT/gpu_embed.txt"
timeout 300 "$PY" gpu_pretrain.py 2>&1 | tee "$OUT/gpu_pretrain.txt"
