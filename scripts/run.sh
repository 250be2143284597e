#!/usr/bin/env bash
# Set up and run the main job on its built-in default: `bash scripts/run.sh [OUTPUT_DIR]` (default outputs/).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} HF_HUB_OFFLINE=1
OUT=${1:-outputs}
protst build-protdescribe --builtin-sample --output "$OUT/protdescribe" --split mmseqs --split-ratios 0.9 0.05 0.05
python examples/quickstart.py "$OUT/quickstart"
