#!/usr/bin/env bash
# STYLE.md rule 11: every *_test.cc must be built into a test target.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=0
while IFS= read -r f; do
  rel="${f#tests/}"
  grep -q "$rel" tests/CMakeLists.txt || { echo "not built into any test target: $f" >&2; missing=1; }
done < <(find tests -name '*_test.cc' | sort)
exit $missing
