#!/usr/bin/env bash
# Every GPU figure in docs/engine.md in one call (< 6 min on one H100/H200-class GPU, estimated):
#   bash bench/gpu.sh
# Prints one table; the last line starts with `gpu:`. Without a CUDA GPU it is a dry run with the tiny
# backends (about a minute on a CPU) whose figures are not GPU measurements. See bench/gpu_bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec python3 bench/gpu_bench.py "$@"
