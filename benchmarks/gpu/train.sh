#!/bin/bash
# Both networks trained on the accelerator machine, side by side, as one device call:
#
#   python benchmarks/gpu/pack_images.py          # here, once: the photographs, small enough to travel
#   run(command="bash benchmarks/gpu/train.sh", carry=[".gpudata/images"], timeout_s=320)   # the device tool
#
# The training commands with their defaults (the recipe of the shipped weights, docs/model_card.md) on the GPU,
# batches made by worker processes (results do not depend on how many). Checkpoints and logs go to
# $OUT; a checkpoint is rewritten at every validation, so a run cut short still returns a usable file.
# Then, here: score both on the original pictures and on the quality benchmark before they replace the shipped
# weights (docs/model_card.md says how).
set -uo pipefail
OUT=${OUT:-/tmp/gpu-train}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
DATA=${DATA:-.gpudata/images}
BUDGET=${BUDGET:-600}   # seconds for each training, whatever happens (the shipped run: about 230 s each)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/device.txt"
python3 -c 'import torch, cv2; print("torch", torch.__version__, "opencv", cv2.__version__)' 2>&1 | tee -a "$OUT/device.txt"
timeout "$BUDGET" python3 -m deflicker_engine.training.train_filter --device ${DEVICE:-cuda} --workers ${FILTER_WORKERS:-8} \
    ${FILTER_ARGS:-} --data "$DATA" \
    --out "$OUT/filter.pt" > "$OUT/filter.log" 2>&1 &
timeout "$BUDGET" python3 -m deflicker_engine.training.train_refiner --device ${DEVICE:-cuda} --workers ${REFINER_WORKERS:-6} \
    ${REFINER_ARGS:-} --data "$DATA" \
    --out "$OUT/refiner.pt" > "$OUT/refiner.log" 2>&1 &
wait
tr '\r' '\n' < "$OUT/filter.log" | grep -v '^\s*$' | tail -n 30
tr '\r' '\n' < "$OUT/refiner.log" | grep -v '^\s*$' | tail -n 30
ls -la "$OUT"
