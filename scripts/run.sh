#!/usr/bin/env bash
# Set up and run the main job on its built-in default: `bash scripts/run.sh [OUTPUT_DIR]`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} HF_HUB_OFFLINE=1
python examples/quickstart.py "$@"
