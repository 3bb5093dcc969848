#!/usr/bin/env bash
# Every GPU check in one run, for a lent GPU machine (see docs/performance.md):
#   training throughput vs the plain recipe (Qwen3-0.6B shape, bf16), evaluation throughput
#   (static batches, then continuous batching) and the bf16 correctness tests under tests/gpu. Wheels the machine lacks can travel in .whl/ (pip download, see the
#   device notes); mentor itself runs from src/. Logs go to $OUT (or /tmp/gpu-out).
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
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)" | tee -a "$OUT/gpu.txt"
timeout "${TRAIN_TIMEOUT:-180}" python3 benchmarks/perf/train.py --gpu --steps "${STEPS:-8}" --rows 600 2>&1 \
  | grep -v -i warning | tee "$OUT/train_gpu.log"
timeout "${TEST_TIMEOUT:-90}" python3 -m pytest -q -p no:cacheprovider -s tests/gpu 2>&1 | tail -20 | tee "$OUT/gpu_tests.log"
for mode in "" "--continuous"; do
  timeout "${EVAL_TIMEOUT:-140}" python3 benchmarks/perf/eval.py --gpu --plain-limit 8 $mode 2>&1 \
    | grep -v -i warning | tail -3 | tee -a "$OUT/eval_gpu.log"
done
