#!/usr/bin/env bash
# Set up and run the test suite: `bash scripts/test.sh [pytest arguments]`.
# Also prepares a second environment with the oldest transformers that pyproject.toml admits, in which the
# Hub-code test loads a saved model with trust_remote_code (skip with PROTST_SKIP_MIN_TRANSFORMERS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/setup.sh
if [ -z "${PROTST_SKIP_MIN_TRANSFORMERS:-}" ]; then
  MIN=$(sed -n 's/.*"transformers>=\([0-9.]*\).*/\1/p' pyproject.toml)
  MIN_VENV=.venv-min-transformers
  [ -x "$MIN_VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$MIN_VENV"
  if ! "$MIN_VENV/bin/python" -c "import torch, transformers, sys; sys.exit(transformers.__version__ != '$MIN')" 2>/dev/null; then
    "$MIN_VENV/bin/python" -m pip install -q --upgrade pip
    "$MIN_VENV/bin/python" -m pip install -q "torch==${PROTST_CPU_TORCH:-2.13.0}" "transformers==$MIN" safetensors
  fi
  export PROTST_MIN_TRANSFORMERS_PYTHON="$PWD/$MIN_VENV/bin/python"
fi
# headless Chromium and its driver for the browser tests (the report page, the Space); they skip where it is absent
if ! command -v chromedriver >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; } \
    || echo "warning: could not install chromium; the browser tests will be skipped" >&2
fi
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python -m ruff check src tests examples benchmarks
# Two pytest-xdist workers by default, each test module on one of them (its module fixtures built once): the suite
# took 383 s so on this 2-core machine, 592 s in one process (2026-12-08). PROTST_TEST_WORKERS=0 runs one process.
# The torchrun tests fail with gloo's error after 100 s instead of hanging, and retry a launch that runs past 150 s.
WORKERS=${PROTST_TEST_WORKERS:-2}
if [ "$WORKERS" = 0 ]; then
  python -m pytest -q tests "$@"
else
  python -m pytest -q -n "$WORKERS" --dist loadfile tests "$@"
fi
