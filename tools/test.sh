#!/usr/bin/env bash
# Runs the whole test suite: set-up (idempotent), lint (ruff check, ruff format --check: a
# finding fails the run), then pytest under the TensorFlow backend (two processes), the Keras
# layers and models again under the JAX backend (two processes; they are written with keras.ops
# only and must stay backend-agnostic), then Bazel's CI subset (the targets).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=0 PYTHONDONTWRITEBYTECODE=1
status=0
echo "== ruff check . && ruff format --check ."
.venv/bin/ruff check . && .venv/bin/ruff format --check . || status=$?
echo "== pytest, KERAS_BACKEND=tensorflow"
KERAS_BACKEND=tensorflow .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile \
  --durations=15 || status=$?
echo "== pytest, KERAS_BACKEND=jax (the Keras layers and models)"
KERAS_BACKEND=jax .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist load \
  -m "not slow" tests/layers tests/models/model_test.py || status=$?
if [ -x tools/bazel_test.sh ] && [ "${SKIP_BAZEL:-0}" != 1 ]; then
  echo "== bazel test --config=ci"
  bash tools/bazel_test.sh || status=$?
fi
exit $status
