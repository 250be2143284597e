#!/usr/bin/env bash
# Set up and run the main job on its built-in default: `bash scripts/run.sh [OUTPUT_DIR]` (default outputs/).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} HF_HUB_OFFLINE=1
OUT=${1:-outputs}
# 1. ProtDescribe from the Swiss-Prot sample shipped in the package (MMseqs2 split)
protst build-protdescribe --builtin-sample --output "$OUT/protdescribe" --split mmseqs --split-ratios 0.8 0.1 0.1
# 2. pretrain the tiny preset on CPU (ESM-2 8M architecture + MiniLM text tower), validate, export, print metrics
python examples/pretrain/run_pretrain.py --preset tiny --dataset "$OUT/protdescribe" --output_dir "$OUT/pretrain" \
    --resume_from_checkpoint latest
echo "model: $OUT/pretrain/final (AutoModel-ready); best: $OUT/pretrain/best; curves: $OUT/pretrain/curves.png"
