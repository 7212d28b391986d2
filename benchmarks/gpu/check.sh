#!/bin/bash
# Issue 13's device checks as one script, for a session that is lent an accelerator:
#
#   bash benchmarks/gpu/prepare.sh               # here, once: wheels the device image lacks, one shared clip
#   run(command="bash benchmarks/gpu/check.sh", carry=[".whl", ".gpudata"], timeout_s=560)   # the device tool
#
# 1. speed.py --set gpu --device cuda: 1080p 100 frames, 4K 48 frames, 1080p 1,000 frames; seconds per stage,
#    peak GPU memory and the device name (speed-gpu.json, and the docs section in $OUT/benchmarks.md);
# 2. one short quality case on cpu and on cuda, then --compare: the figures must agree within float tolerance.
# Everything it writes goes to $OUT (the device tool brings it back): speed-gpu.json, the logs, and
# benchmarks.md with its `speed-gpu` section written there, to copy into docs/benchmarks.md.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
[ -d .gpudata ] && export DEFLICKER_DATA=$PWD/.gpudata
if [ -d .whl ] && python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then  # the wheels are cp312
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site:$PWD || exit 1
else
    export PYTHONPATH=$PWD
fi
python3 - <<'PY' 2>&1 | tee "$OUT/device.txt"
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
PY
command -v ffmpeg >/dev/null || echo "no ffmpeg binary: the ffmpeg method is skipped (the engine needs none)" | tee -a "$OUT/device.txt"
cp docs/benchmarks.md "$OUT/benchmarks.md"
SPEED_ARGS=${SPEED_ARGS:---set gpu}
DEVICE=${DEVICE:-cuda}
# speed first (the figures the issue asks for), bounded so that the quality check always gets its turn
timeout ${SPEED_TIMEOUT:-360} python3 benchmarks/speed.py $SPEED_ARGS --device "$DEVICE" --out "$OUT/speed" 2>&1 \
    | tee "$OUT/speed.log"
cp "$OUT"/speed/speed-*.json "$OUT/" 2>/dev/null; cp docs/benchmarks.md "$OUT/benchmarks.md"; rm -rf "$OUT/speed"
CASE=${CASE:-bmx/w1-local}
for dev in cpu "$DEVICE"; do
    timeout ${QUALITY_TIMEOUT:-120} python3 benchmarks/quality.py --cases "$CASE" --methods ours --device "$dev" \
        --no-docs --tag "device-$dev" --out "$OUT" 2>&1 | tail -n 25 | tee "$OUT/quality-$dev.log"
done
python3 benchmarks/quality.py --compare "$OUT/quality-device-cpu.json" "$OUT/quality-device-$DEVICE.json" \
    2>&1 | tee "$OUT/compare.txt"
ls -la "$OUT"
