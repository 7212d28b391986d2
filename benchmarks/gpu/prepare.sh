#!/bin/bash
# Run here, once, before benchmarks/gpu/check.sh goes to the accelerator machine (see that script).
# - .whl/: wheels its image lacks (it has torch, numpy, OpenCV, tqdm, msgpack; not these), for Python 3.12
# - .gpudata/clips/clean_bmx_trees: the one shared clip the quality check's case needs (../shared does not travel)
# Both folders are ignored by git and named in the device tool's `carry`. See /work/.library/device/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
for d in /.whl/ /.gpudata/; do grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl av OpenEXR pyzmq opencolorio
mkdir -p .gpudata/clips
cp -r ../shared/data/clips/clean_bmx_trees .gpudata/clips/
du -sh .whl .gpudata
