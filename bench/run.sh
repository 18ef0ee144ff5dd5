#!/usr/bin/env bash
# End-to-end benchmark: hasync against rsync, side by side in one run on the same data.
#
#   bench/run.sh files [--scale F] [--dir D] [--keep]
#
# `files` builds a deterministic tree of about 2 GiB (bench/make_tree.cc; --scale shrinks it, CI
# runs 0.01 to keep this script honest) and, for each case, syncs it with `rsync -a --delete` in
# whole-file mode and in --no-whole-file mode (each into its own copy) and with hasync
# (`hasync sync` pulling through `hasync serve --stdio`, both on this machine, fsyncing what it
# commits). It prints wall time, CPU time (user+system, all processes), the peak RSS of the
# largest process and the bytes moved between the two sides, then the ratio against rsync's
# faster mode. After every case each copy is checked against the source with diff -r.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

suite="${1:-}"
shift || true
scale=1
dir=/tmp/hasync-bench
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ "$suite" != files ]; then
  echo "usage: bench/run.sh files [--scale F] [--dir D] [--keep]" >&2
  exit 2
fi

command -v rsync >/dev/null && [ -x /usr/bin/time ] || bash ci/install-deps.sh
[ -x build/release/engine/hasync ] && [ -x build/release/bench/make_tree ] ||
  bash ci/build.sh release >/dev/null
H="$ROOT/build/release/engine/hasync"
MT="$ROOT/build/release/bench/make_tree"

rm -rf "$dir"
mkdir -p "$dir"/{src,h,rw,rn,h-state,src-state}
[ "$keep" = 1 ] || trap 'rm -rf "$dir"' EXIT
for side in src h; do
  cat >"$dir/$side.toml" <<TOML
[node]
name = "bench-$side"
state_dir = "$dir/$side-state"
software_version = "bench"

[[files]]
name = "data"
root = "$dir/$side"
TOML
done

echo "== building the tree (scale $scale) in $dir/src"
"$MT" create "$dir/src" "$scale"
echo "   $(du -sh "$dir/src" | cut -f1), $(find "$dir/src" -type f | wc -l) files; machine: $(nproc) cores, $(uname -r)"
sync

# run NAME CMD...: times CMD, appends "NAME wall cpu rss_kib bytes" to $dir/results.
run() {
  local name="$1"
  shift
  sync  # nobody pays for the previous run's write-back (hasync's syncfs would)
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$@" >"$dir/out" 2>"$dir/err" || {
    echo "bench: $name failed:" >&2
    cat "$dir/err" "$dir/out" >&2
    exit 1
  }
  local bytes
  if [[ "$name" == hasync* ]]; then
    bytes=$(grep -o '"bytes_wire": *[0-9]*' "$dir/out" | grep -o '[0-9]*$')
  else
    bytes=$(awk -F': ' '/^Total bytes (sent|received)/ {gsub(",", "", $2); s += $2} END {print s}' "$dir/out")
  fi
  read -r wall user sys rss <"$dir/time"
  echo "$name $wall $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') $rss $bytes" >>"$dir/results"
}

check() {
  for copy in h rw rn; do
    diff -r "$dir/src" "$dir/$copy" >/dev/null || {
      echo "bench: $dir/$copy differs from the source after $1" >&2
      exit 1
    }
  done
}

case_run() {
  local c="$1"
  run "rsync-whole $c" rsync -a --delete --whole-file --stats "$dir/src/" "$dir/rw/"
  run "rsync-delta $c" rsync -a --delete --no-whole-file --stats "$dir/src/" "$dir/rn/"
  run "hasync $c" "$H" sync --config "$dir/h.toml" --json --log-level warn \
    --transport "$H serve --stdio --log-level warn --config $dir/src.toml"
  check "$c"
}

: >"$dir/results"
echo "== initial";    case_run initial
echo "== no change";  case_run no-change
echo "== 1% changed"; "$MT" change "$dir/src" | sed 's/^/   /'; case_run 1%-changed
echo "== insertions"; "$MT" insert "$dir/src" | sed 's/^/   /'; case_run insertions

echo
printf '%-12s %-14s %9s %9s %10s %14s\n' case tool "wall s" "cpu s" "peak MiB" "bytes moved"
awk '{printf "%-12s %-14s %9.2f %9.2f %10.0f %14d\n", $2, $1, $3, $4, $5 / 1024, $6}' "$dir/results"
echo
echo "ratios, rsync / hasync (above 1: hasync is better); wall and cpu from rsync's faster mode,"
echo "bytes from the mode that moved fewer:"
printf '%-12s %10s %10s %10s\n' case wall cpu bytes
for c in initial no-change 1%-changed insertions; do
  awk -v c="$c" '
    $2 == c && $1 == "hasync" { hw = $3; hc = $4; hb = $6 }
    $2 == c && $1 != "hasync" {
      if (rw == "" || $3 < rw) { rw = $3; rc = $4 }
      if (rb == "" || $6 < rb) rb = $6
    }
    END {
      printf "%-12s %9.2fx %9.2fx %9.2fx\n", c, rw / (hw > 0 ? hw : 0.001), rc / (hc > 0 ? hc : 0.001), rb / (hb > 0 ? hb : 1)
    }' "$dir/results"
done
