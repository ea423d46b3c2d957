#!/bin/sh
# `bazel coverage` needs the real remote_coverage_tools, which cannot be fetched offline.
echo "bazel coverage is not supported offline (third_party/bazel/remote_coverage_tools is a stand-in)" >&2
exit 1
