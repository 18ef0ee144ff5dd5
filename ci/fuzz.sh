#!/usr/bin/env bash
# The libFuzzer targets (fuzz/README.md) under ASan and UBSan: configures build/fuzz with clang
# (HASYNC_FUZZ=ON, no tests, no benchmarks), builds only the targets and the libraries they link,
# then runs each from its seeds (fuzz/corpus/<target>/) one after another.
#
#   bash ci/fuzz.sh [SECONDS] [TARGET...]   default: 20 s each (CI), every target
#
# Fails when any target finds a crash, a leak, an out-of-memory (-rss_limit_mb) or a timeout
# (-timeout, per input); the input that did it is kept in build/fuzz/artifacts/<target>/, each
# target's log in build/fuzz/logs/, and the new inputs it found in build/fuzz/work/<target>/
# (the committed seeds are never written to).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/*_fuzzer.cc; do
    t="${f#fuzz/}"
    targets+=("${t%_fuzzer.cc}")
  done
fi

# -O1 -g without NDEBUG: fast enough to fuzz, with assertions on and readable stacks.
CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DHASYNC_FUZZ=ON \
  -DHASYNC_BUILD_TESTS=OFF -DHASYNC_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null
cmake --build build/fuzz --target fuzzers -j "$(nproc)"

mkdir -p build/fuzz/logs
failed=()
for t in "${targets[@]}"; do
  bin="build/fuzz/fuzz/fuzz_$t"
  work="build/fuzz/work/$t"
  artifacts="build/fuzz/artifacts/$t/"
  log="build/fuzz/logs/$t.log"
  mkdir -p "$work" "$artifacts"
  status=0
  "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts" "$work" "fuzz/corpus/$t" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
  echo "fuzz $t: ${runs:-?} executions, ${rate:-?}/s, peak ${rss:-?} MB, exit $status"
  if [ "$status" -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20 >&2 || true
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "ci/fuzz.sh: found problems in: ${failed[*]} (build/fuzz/artifacts, build/fuzz/logs)" >&2
  exit 1
fi
echo "ci/fuzz.sh: ${#targets[@]} targets, ${seconds} s each: nothing found"
