#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Create the repo-root venvs the Blender tests run under: the PyPI `bpy` module
# pins numpy<2 and is a ~374 MB wheel, so each Blender version gets its own venv.
# Usage: install/blender/make_test_venvs.sh [4.2] [4.5] [5.0]   (default: all three; 4.2 is the oldest the add-on supports)
# Idempotent: a venv whose bpy already imports is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3.11}"
versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(4.2 4.5 5.0)
for v in "${versions[@]}"; do
  venv=".venv-bpy-$v"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import bpy, zmq, msgpack" 2>/dev/null; then
    echo "$venv: ready"
    continue
  fi
  echo "$venv: creating (bpy==$v.*)"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "bpy==$v.*" pyzmq msgpack
  "$venv/bin/python" -c "import bpy; print('$venv: bpy', bpy.app.version_string)"
done
