#!/usr/bin/env bash
# Runs `bazel test //...` offline with Debian's bazel-bootstrap (Bazel 4.2.3).
#
#   bash tools/bazel_test.sh              # the CI subset (tag bazel_ci, --config=ci)
#   BAZEL_FULL=1 bash tools/bazel_test.sh # every test file
#   bash tools/bazel_test.sh //:tests/core/image_test --test_output=all  # targets, bazel flags
#
# Installs bazel-bootstrap with apt when it is missing. The Python interpreter is the
# project's virtual environment (.venv, made by tools/setup.sh; or $ATTENTION_CENTER_VENV),
# put first on PATH so Bazel's python3 is the one with the dependencies. The output base
# lives under ~/.cache/bazel (Bazel's default), outside the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

if ! command -v bazel >/dev/null; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "bazel not found: installing Debian's bazel-bootstrap"
  $SUDO apt-get update -q >/dev/null
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q bazel-bootstrap >/dev/null
fi

VENV=${ATTENTION_CENTER_VENV:-$REPO/.venv}
if [ -x "$VENV/bin/python3" ]; then
  export PATH="$VENV/bin:$PATH"
else
  echo "warning: no virtual environment at $VENV; Bazel uses $(command -v python3)" >&2
fi
if [ -z "${ATTENTION_CENTER_SHARED:-}" ] && [ -d "$REPO/../shared" ]; then
  ATTENTION_CENTER_SHARED=$(cd "$REPO/../shared" && pwd)
  export ATTENTION_CENTER_SHARED
fi
echo "bazel: $(bazel --version 2>/dev/null | head -1) ($(command -v bazel)); python3: $(command -v python3); shared: ${ATTENTION_CENTER_SHARED:-none}"

flags=(--jobs="${BAZEL_JOBS:-2}" --local_cpu_resources="${BAZEL_CPUS:-2}" --local_test_jobs=1)
[ "${BAZEL_FULL:-0}" = 1 ] || flags+=(--config=ci)
args=("$@")
has_target=0
for arg in "${args[@]}"; do
  case "$arg" in -*) ;; *) has_target=1 ;; esac
done
[ $has_target = 1 ] || args+=(//...)
status=0
bazel test "${flags[@]}" "${args[@]}" || status=$?
if [ "${BAZEL_SHUTDOWN:-1}" = 1 ]; then
  bazel shutdown >/dev/null 2>&1 || true  # no Java server left behind in CI
fi
exit $status
