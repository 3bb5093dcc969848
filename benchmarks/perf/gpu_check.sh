#!/usr/bin/env bash
# Every GPU measurement of issue 19 in one call (< 8 min), one JSON file: $OUT/gpu_check.json.
# Runs benchmarks/perf/gpu_check.py (see its docstring for the steps and their time limits):
# training vs the plain recipe with each fast-path switch flipped, the 3072-token memory fit
# against the predictor, evaluation (static and continuous batching), tests/gpu, one-answer
# latency, torch.compile. Wheels the machine lacks can travel in .whl/; mentor runs from src/.
#   bash benchmarks/perf/gpu_check.sh               # on the lent GPU
#   bash benchmarks/perf/gpu_check.sh --cpu-smoke   # the same steps, tiny model, on the CPU
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src
else
  export PYTHONPATH=$PWD/src
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt"
PY=${PYTHON:-python3}
exec "$PY" benchmarks/perf/gpu_check.py --out "$OUT/gpu_check.json" "$@"
