#!/usr/bin/env bash
# Runs the whole test suite: set-up (idempotent), then pytest under the TensorFlow backend,
# then the model-library tests again under the JAX backend, then Bazel's py_test targets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONDONTWRITEBYTECODE=1
status=0
echo "== pytest, KERAS_BACKEND=tensorflow"
KERAS_BACKEND=tensorflow .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile \
  || status=$?
echo "== pytest, KERAS_BACKEND=jax (model library)"
KERAS_BACKEND=jax .venv/bin/python -m pytest -q -p no:cacheprovider -m "not slow" \
  tests/layers_test.py tests/model_test.py tests/ensemble_test.py \
  attention_center/backbones/offline_weights_test.py \
  || status=$?
if [ -x tools/bazel_test.sh ] && [ "${SKIP_BAZEL:-0}" != 1 ]; then
  echo "== bazel test //..."
  bash tools/bazel_test.sh || status=$?
fi
exit $status
