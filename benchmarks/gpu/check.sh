#!/bin/bash
# Issue 13's device checks as one script, for a session that is lent an accelerator:
#
#   bash benchmarks/gpu/prepare.sh               # here, once: wheels the device image lacks, one shared clip
#   run(command="bash benchmarks/gpu/check.sh", carry=[".whl", ".gpudata"], timeout_s=560)   # the device tool
#
# 1. speed.py --set gpu --device cuda: 1080p 100 frames, 4K 48 frames, 1080p 1,000 frames; seconds per stage,
#    peak GPU memory and the device name (speed-gpu.json, and the docs section in $OUT/benchmarks.md);
# 2. benchmarks/gpu/same_on_devices.py: one clip (the quality benchmark's bmx/w1-local) on cpu and on cuda:
#    E_warp and PSNR of each, and PSNR between the two outputs (they must agree within float tolerance).
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
# the project itself, for its entry points (the `deflicker` subcommands); the working tree stays first on the path
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . \
    && export PYTHONPATH=$PWD:/tmp/site || exit 1
python3 - <<'PY' 2>&1 | tee "$OUT/device.txt"
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
PY
cp docs/benchmarks.md "$OUT/benchmarks.md"
SPEED_ARGS=${SPEED_ARGS:---set gpu}
DEVICE=${DEVICE:-cuda}
# the input clips first, one process per case (making them is CPU work that is not being measured)
for n in $(seq ${CASE_COUNT:-3}); do python3 benchmarks/speed.py $SPEED_ARGS --cases $n --out "$OUT/speed" --make-only & done; wait
# speed (the figures the issue asks for), bounded so that the same-on-devices check always gets its turn
timeout ${SPEED_TIMEOUT:-360} python3 benchmarks/speed.py $SPEED_ARGS --device "$DEVICE" --out "$OUT/speed" \
    --docs "$OUT/benchmarks.md" 2>&1 | tee "$OUT/speed.log"
cp "$OUT"/speed/speed-*.json "$OUT/" 2>/dev/null; rm -rf "$OUT/speed"
timeout ${QUALITY_TIMEOUT:-180} python3 benchmarks/gpu/same_on_devices.py --device "$DEVICE" \
    --frames ${FRAMES:-80} --out "$OUT/same_on_devices.json" 2>&1 | tee "$OUT/same_on_devices.log"
ls -la "$OUT"
