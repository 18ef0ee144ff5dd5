#!/usr/bin/env bash
# Configures and builds one preset from scratch: ci/build.sh release|dev|asan-ubsan
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
rm -rf "build/$preset"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
