#!/usr/bin/env bash
# Configures and builds one preset from scratch: ci/build.sh release|dev|asan-ubsan [TARGET...]
# (no target: everything the preset builds; the demo asks for the hasync binary only).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
rm -rf "build/$preset"
cmake --preset "$preset" >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build --preset "$preset" -j "$(nproc)" "${targets[@]}"
