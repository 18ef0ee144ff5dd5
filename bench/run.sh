#!/usr/bin/env bash
# End-to-end benchmark: hasync against rsync (files) and PostgreSQL's tools (db), side by side in
# one run on the same data.
#
#   bench/run.sh files [--ssh] [--link lan|wan [--unpinned]] [--tree big|small [--files N]]
#                      [--scale F] [--dir D] [--keep]
#   bench/run.sh db [--scale F] [--dir D] [--keep]     (bench/run_db.sh)
#   bench/run.sh verify [--scale F] [--dir D] [--keep] (bench/run_verify.sh)
#   bench/run.sh failover [--runs N] [--quick] [--etcd] [--dir D] [--keep] (bench/run_failover.sh)
#
# `files` builds a deterministic tree of about 2 GiB (bench/make_tree.cc; --scale shrinks it, CI
# runs 0.01 to keep this script honest) and, for each case, syncs it with `rsync -a --delete` in
# whole-file mode and in --no-whole-file mode (each into its own copy) and with hasync
# (`hasync sync` pulling through `hasync serve --stdio`, both on this machine, fsyncing what it
# commits). It prints wall time, CPU time (user+system, all processes), the peak RSS of the
# largest process and the bytes moved between the two sides, then the ratio against rsync's
# faster mode. After every case each copy is checked against the source with diff -r.
#
# --ssh: both tools go through a private sshd on a loopback port (started here, as root):
# hasync as a trusted pair (`hasync trust`, forced command, pinned host key), rsync pulling
# with `rsync -a -e ssh` and its own key; both with the same AES-GCM cipher.
#
# --link lan|wan: as --ssh, but the Primary (sshd and what it starts) and the Secondary (hasync
# sync or rsync, and its ssh) live in two network namespaces joined by a veth pair shaped to
# 1 Gbit/s (lan) or 100 Mbit/s (wan) each way, each side pinned to its own core (bench/run_link.sh;
# --unpinned: both on every core). rsync -z runs beside rsync's two modes, the CPU column adds
# the Primary's (the sshd's reaped sessions), and wan ends with a check of [sync] max_rate: a
# sync at 50Mbit must read within 5% of 6.25 MB/s.
#
# --tree small: instead of the 2 GiB tree, --files N files of 0 to 511 bytes in N/57 folders
# (make_tree small; N defaults to 200,000 x scale); the cases are initial, no change and a few
# files rewritten, added and deleted (make_tree small-change).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

suite="${1:-}"
shift || true
# bench/run.sh db [--scale F] [--dir D] [--keep]: the database suite (bench/run_db.sh).
[ "$suite" != db ] || exec bash bench/run_db.sh "$@"
# bench/run.sh verify [--scale F] [--dir D] [--keep]: verify against rsync -c and pg_dump.
[ "$suite" != verify ] || exec bash bench/run_verify.sh "$@"
# bench/run.sh failover [--runs N] [--quick] [--etcd] [--dir D] [--keep]: the Primary's death to
# the load balancer's first answer from the promoted Secondary (--etcd: also with etcd as arbiter).
[ "$suite" != failover ] || exec bash bench/run_failover.sh "$@"
scale=1
dir=/tmp/hasync-bench
keep=0
ssh=0
link=""
pinned=1
tree=big
nfiles=""
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --ssh) ssh=1; shift ;;
    --link) link="$2"; ssh=1; shift 2 ;;
    --unpinned) pinned=0; shift ;;
    --tree) tree="$2"; shift 2 ;;
    --files) nfiles="$2"; shift 2 ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$link" in "" | lan | wan) ;; *) suite=usage ;; esac
case "$tree" in big | small) ;; *) suite=usage ;; esac
if [ "$suite" != files ]; then
  echo "usage: bench/run.sh files [--ssh] [--link lan|wan [--unpinned]] [--tree big|small [--files N]]" >&2
  echo "                          [--scale F] [--dir D] [--keep]" >&2
  echo "       bench/run.sh db [--scale F] [--dir D] [--keep]" >&2
  echo "       bench/run.sh verify [--scale F] [--dir D] [--keep]" >&2
  echo "       bench/run.sh failover [--runs N] [--quick] [--etcd] [--dir D] [--keep]" >&2
  exit 2
fi

command -v rsync >/dev/null && [ -x /usr/bin/time ] && [ -x /usr/sbin/sshd ] || bash ci/install-deps.sh
[ -x build/release/engine/cli/hasync ] && [ -x build/release/bench/make_tree ] ||
  bash ci/build.sh release >/dev/null
H="$ROOT/build/release/engine/cli/hasync"
MT="$ROOT/build/release/bench/make_tree"

if [ -e "$dir" ]; then
  rm -rf "$dir"
  sync
  removed_at=$(date +%s)
fi
mkdir -p "$dir/src" "$dir/src-state"
sshd_pid=""
# shellcheck source=bench/run_link.sh
. "$ROOT/bench/run_link.sh"
daemon_pids=""
cleanup() {
  [ -z "$sshd_pid" ] || kill "$sshd_pid" 2>/dev/null || true
  # shellcheck disable=SC2086
  [ -z "$daemon_pids" ] || kill $daemon_pids 2>/dev/null || true
  link_down
  [ "$keep" = 1 ] || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
port=0
# S_EXEC runs a command on the Secondary's side, P_EXEC on the Primary's: empty but for --link.
S_EXEC=()
P_EXEC=()
host=127.0.0.1       # the Primary, as the Secondary reaches it
secondary=127.0.0.1  # the Secondary, as the Primary names it
if [ -n "$link" ]; then
  link_up "$link" "$pinned"
  host=$LINK_HOST
  secondary=198.18.0.2
fi
if [ "$ssh" = 1 ]; then
  # A private sshd reading hasync's managed authorized_keys and the one rsync's key is in.
  ssh-keygen -q -t ed25519 -N '' -f "$dir/rsync_key"
  cp "$dir/rsync_key.pub" "$dir/ak-rsync"
  # shellcheck source=ci/private-sshd.sh
  . "$ROOT/ci/private-sshd.sh"
  SSHD_ADDR=$host
  SSHD_EXEC=("${P_EXEC[@]}")
  start_private_sshd "$dir" "$dir/ak-hasync" "$dir/ak-rsync"
  sshd_pid=$SSHD_PID
  port=$SSHD_PORT
  RSYNC_SSH="ssh -F /dev/null -i $dir/rsync_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -c aes128-gcm@openssh.com -p $port"
  SRC_URL="root@$host:$dir/src/"
  echo "== ssh: private sshd on $host:$port"
else
  SRC_URL="$dir/src/"
fi
# config NAME ROOT: a settings file for one side.
config() {
  cat >"$dir/$1.toml" <<TOML
[node]
name = "bench-$1"
state_dir = "$dir/$1-state"
software_version = "bench"

[ssh]
port = $([ "$port" = 0 ] && echo 22 || echo "$port")
user = "root"
authorized_keys = "$dir/ak-hasync"
ciphers = "aes128-gcm@openssh.com"

[[files]]
name = "data"
root = "$2"
TOML
}
config src "$dir/src"
# trust NAME: the pair src (Primary) and NAME (Secondary) trust each other over the sshd.
trust() {
  [ "$ssh" = 1 ] || return 0
  "$H" --config "$dir/src.toml" --log-level warn trust add "$secondary" \
    --name "bench-$1" --key "$("$H" --config "$dir/$1.toml" --log-level warn trust key)" >/dev/null
  "$H" --config "$dir/$1.toml" --log-level warn trust add "$host" \
    --key "$("$H" --config "$dir/src.toml" --log-level warn trust key)" >/dev/null
  "${S_EXEC[@]}" "$H" --config "$dir/$1.toml" --log-level warn trust test "$host" \
    --accept-host-key >/dev/null
}

if [ "$tree" = small ]; then
  [ -n "$nfiles" ] || nfiles=$(awk -v s="$scale" 'BEGIN { printf "%d", 200000 * s }')
  echo "== building the many-small-files tree ($nfiles files) in $dir/src"
  "$MT" small "$dir/src" "$nfiles"
else
  echo "== building the tree (scale $scale) in $dir/src"
  "$MT" create "$dir/src" "$scale"
fi
echo "   $(du -sh "$dir/src" | cut -f1), $(find "$dir/src" -type f | wc -l) files; machine: $(nproc) cores, $(uname -r)"
sync
if [ -n "${removed_at:-}" ]; then
  # ext4 without a journal (this machine's root) skips inodes freed in the last minute and
  # scans for others: creating files right after removing a tree is up to 4x slower, for
  # every tool. Let the previous run's tree age first.
  wait_s=$((removed_at + 61 - $(date +%s)))
  [ "$wait_s" -le 0 ] || { echo "   waiting ${wait_s} s for the previous run's freed inodes to age"; sleep "$wait_s"; }
fi

# run NAME CMD...: times CMD, appends "NAME wall cpu rss_kib bytes" to $dir/results.
run() {
  local name="$1"
  shift
  sync  # nobody pays for the previous run's write-back (hasync's syncfs would)
  local p_cpu=0
  [ -z "$link" ] || p_cpu=$(link_primary_cpu "$sshd_pid")
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "${S_EXEC[@]}" "$@" >"$dir/out" 2>"$dir/err" || {
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
  if [ -n "$link" ]; then  # the Primary's side: the sshd's sessions, once it reaped them
    link_wait_sessions "$sshd_pid"
    p_cpu=$(awk -v a="$p_cpu" -v b="$(link_primary_cpu "$sshd_pid")" 'BEGIN { print b - a }')
  fi
  echo "$name $wall $(awk -v u="$user" -v s="$sys" -v p="$p_cpu" 'BEGIN { print u + s + p }') $rss $bytes" >>"$dir/results"
}

# The copies: rsync whole-file (rw), rsync delta (rn), rsync -z over a link (rz), hasync (h),
# hasync on io_uring (hu).
# Locally, hasync also runs with its io_uring backend (hu; the default is the portable one).
copies="rw rn h hu"
[ "$ssh" = 0 ] || copies="rw rn h"
[ -z "$link" ] || copies="rw rn rz h"
check() {
  for t in $copies; do
    copy="$dir/$t"
    diff -r "$dir/src" "$copy" >/dev/null || {
      echo "bench: $copy differs from the source after $1" >&2
      exit 1
    }
  done
}

# hasync DEST CASE [IO]: one hasync sync of the source into DEST (IO: HASYNC_IO of both sides).
hasync_run() {
  if [ -n "${3:-}" ]; then
    run "hasync-$3 $2" env HASYNC_IO="$3" "$H" sync --config "$dir/$(basename "$1").toml" --json \
      --log-level warn --transport "env HASYNC_IO=$3 $H serve --stdio --log-level warn --config $dir/src.toml"
  elif [ "$ssh" = 1 ]; then
    run "hasync $2" "$H" sync --config "$dir/$(basename "$1").toml" --json --log-level warn \
      --host "$host"
  else
    run "hasync $2" "$H" sync --config "$dir/$(basename "$1").toml" --json --log-level warn \
      --transport "$H serve --stdio --log-level warn --config $dir/src.toml"
  fi
}

# tool_run T DEST CASE: one run of tool T (rw, rn, rz, h) into DEST.
tool_run() {
  case "$1" in
    rw) run "rsync-whole $3" rsync -a --delete --whole-file --stats ${RSYNC_SSH:+-e "$RSYNC_SSH"} "$SRC_URL" "$2/" ;;
    rn) run "rsync-delta $3" rsync -a --delete --no-whole-file --stats ${RSYNC_SSH:+-e "$RSYNC_SSH"} "$SRC_URL" "$2/" ;;
    rz) run "rsync-z $3" rsync -a --delete -z --stats ${RSYNC_SSH:+-e "$RSYNC_SSH"} "$SRC_URL" "$2/" ;;
    h) hasync_run "$2" "$3" ;;
    hu) hasync_run "$2" "$3" uring ;;
  esac
}

case_run() {
  for t in $copies; do tool_run "$t" "$dir/$t" "$1"; done
  check "$1"
}

: >"$dir/results"
# The initial sync writes 2 GiB of new page cache, whose cost on a VM varies from run to run:
# two rounds, interleaved in opposite orders, each into a fresh copy; the table keeps each
# tool's faster round.
echo "== initial (2 rounds)"
for round in 1 2; do
  for t in $copies; do
    mkdir -p "$dir/$t.$round"
    rm -rf "$dir/$t"
    ln -s "$t.$round" "$dir/$t"
  done
  config h.$round "$dir/h.$round"
  mkdir -p "$dir/h.$round-state"
  if [[ " $copies " == *" hu "* ]]; then
    config hu.$round "$dir/hu.$round"
    mkdir -p "$dir/hu.$round-state"
  fi
  trust h.$round
  # The second round runs in the opposite order: on this VM whoever writes first meets other
  # memory than whoever writes third.
  order="$copies"
  [ "$round" = 1 ] || order=$(echo "$copies" | awk '{ for (i = NF; i > 0; --i) printf "%s ", $i }')
  for t in $order; do tool_run "$t" "$dir/$t.$round" initial; done
done
for t in $copies; do rm -rf "$dir/$t.1"; done
rm -rf "$dir"/h.1-state "$dir"/hu.1-state
check initial
cp "$dir/h.2.toml" "$dir/h.toml"
[ ! -f "$dir/hu.2.toml" ] || cp "$dir/hu.2.toml" "$dir/hu.toml"
echo "== no change";  case_run no-change
if [ "$ssh" = 1 ]; then
  # As the daemon runs it: the connection kept open from the previous sync ([ssh]
  # keep_connection_s); one sync opens it, the next is timed, then it is closed.
  sed -i 's/^\[ssh\]$/[ssh]\nkeep_connection_s = 120/' "$dir/h.toml"
  "${S_EXEC[@]}" "$H" sync --config "$dir/h.toml" --log-level warn --host "$host" >/dev/null
  run "hasync-reused no-change" "$H" sync --config "$dir/h.toml" --json --log-level warn \
    --host "$host"
  "${S_EXEC[@]}" ssh -F /dev/null -o ControlPath="$dir/h.2-state/ssh/cm-%C" -O exit -p "$port" \
    -l root "$host" 2>/dev/null || true
  sed -i '/^keep_connection_s = 120$/d' "$dir/h.toml"
fi
# As a node with both daemons running syncs: each daemon's change feed ([sync] track_changes,
# engine/files/change_feed.h) tells the scans which folders changed, so a no-change sync walks
# none. One sync takes the feeds' marks, the next five are timed (the fastest is kept); over ssh
# on the kept connection, as the daemon syncs. The daemons serve no status pages here.
if [ -z "$link" ]; then
  for c in src h; do printf '\n[status]\nlisten = ""\n' >>"$dir/$c.toml"; done
  [ "$ssh" = 0 ] || sed -i 's/^\[ssh\]$/[ssh]\nkeep_connection_s = 120/' "$dir/h.toml"
  "$H" daemon --config "$dir/src.toml" --log-level warn >"$dir/daemon-src.log" 2>&1 &
  daemon_pids="$!"
  "$H" daemon --config "$dir/h.toml" --log-level warn >"$dir/daemon-h.log" 2>&1 &
  daemon_pids="$daemon_pids $!"
  for _ in $(seq 50); do
    [ -S "$dir/src-state/changes.sock" ] && [ -S "$dir/h.2-state/changes.sock" ] && break
    sleep 0.1
  done
  tracked=("$H" sync --config "$dir/h.toml" --json --log-level warn --host "$host")
  [ "$ssh" = 1 ] || tracked=("$H" sync --config "$dir/h.toml" --json --log-level warn \
    --transport "$H serve --stdio --log-level warn --config $dir/src.toml")
  "${tracked[@]}" >"$dir/tracked.json"
  for _ in 1 2 3 4 5; do run "hasync-tracked no-change" "${tracked[@]}"; done
  grep -q '"roots_scanned_by_changes": *1' "$dir/out" || {
    echo "bench: the tracked sync walked the whole root:" >&2
    cat "$dir/out" "$dir/daemon-h.log" "$dir/daemon-src.log" >&2
    exit 1
  }
  # shellcheck disable=SC2086
  kill $daemon_pids 2>/dev/null || true
  # shellcheck disable=SC2086
  wait $daemon_pids 2>/dev/null || true
  daemon_pids=""
  if [ "$ssh" = 1 ]; then
    "${S_EXEC[@]}" ssh -F /dev/null -o ControlPath="$dir/h.2-state/ssh/cm-%C" -O exit -p "$port" \
      -l root "$host" 2>/dev/null || true
    sed -i '/^keep_connection_s = 120$/d' "$dir/h.toml"
  fi
  for c in src h; do sed -i '/^\[status\]$/,$d' "$dir/$c.toml"; done
fi
if [ "$tree" = small ]; then
  cases="initial no-change small-change"
  echo "== small change"; "$MT" small-change "$dir/src" | sed 's/^/   /'; case_run small-change
else
  cases="initial no-change 1%-changed insertions"
  echo "== 1% changed"; "$MT" change "$dir/src" | sed 's/^/   /'; case_run 1%-changed
  echo "== insertions"; "$MT" insert "$dir/src" | sed 's/^/   /'; case_run insertions
fi

# Keep each tool's fastest line per case.
awk '{ k = $1 " " $2; if (!(k in best) || $3 < best[k]) { best[k] = $3; line[k] = $0; order[++n] = k } }
     END { for (i = 1; i <= n; ++i) if (!(order[i] in seen)) { seen[order[i]] = 1; print line[order[i]] } }' \
  "$dir/results" >"$dir/best"
echo
printf '%-12s %-14s %9s %9s %10s %14s\n' case tool "wall s" "cpu s" "peak MiB" "bytes moved"
awk '{printf "%-12s %-14s %9.2f %9.2f %10.0f %14.0f\n", $2, $1, $3, $4, $5 / 1024, $6}' "$dir/best"
echo
echo "ratios, rsync / hasync (above 1: hasync is better); wall and cpu from rsync's faster mode,"
echo "bytes from the mode that moved fewer:"
printf '%-12s %10s %10s %10s%s\n' case wall cpu bytes "$([ -z "$link" ] || echo "  wall vs rsync -z")"
for c in $cases; do
  awk -v c="$c" -v z="${link:+1}" '
    $2 == c && $1 == "hasync" { hw = $3; hc = $4; hb = $6 }
    $2 == c && $1 == "rsync-z" { zw = $3 }
    $2 == c && $1 ~ /^rsync/ {
      if (rw == "" || $3 < rw) { rw = $3; rc = $4 }
      if (rb == "" || $6 < rb) rb = $6
    }
    END {
      printf "%-12s %9.2fx %9.2fx %9.2fx", c, rw / (hw > 0 ? hw : 0.001), rc / (hc > 0 ? hc : 0.001), rb / (hb > 0 ? hb : 1)
      if (z) printf " %17.2fx", zw / (hw > 0 ? hw : 0.001)
      printf "\n"
    }' "$dir/best"
done
if [[ " $copies " == *" hu "* ]]; then
  echo
  echo "hasync's I/O backends, io_uring / posix (the default) wall time (above 1: posix is faster):"
  for c in $cases; do
    awk -v c="$c" '$2 == c && $1 == "hasync" { p = $3 } $2 == c && $1 == "hasync-uring" { u = $3 }
      END { printf "%-12s %9.2fx   (uring %.2f s, posix %.2f s)\n", c, u / (p > 0 ? p : 0.001), u, p }' "$dir/best"
  done
fi
if [ "$ssh" = 1 ]; then
  awk '$2 == "no-change" && $1 == "hasync-reused" { hw = $3 }
       $2 == "no-change" && $1 ~ /^rsync/ { if (rw == "" || $3 < rw) rw = $3 }
       END { printf "%-12s %9.2fx   (hasync on a kept connection, as the daemon syncs)\n", "no-change*", rw / (hw > 0 ? hw : 0.001) }' "$dir/best"
fi
awk '$2 == "no-change" && $1 == "hasync-tracked" { hw = $3 }
     $2 == "no-change" && $1 ~ /^rsync/ { if (rw == "" || $3 < rw) rw = $3 }
     END { if (hw != "") printf "%-12s %9.2fx   (%.0f ms: both daemons tracking changes; the goal is 50 ms)\n", "no-change+", rw / (hw > 0 ? hw : 0.001), hw * 1000 }' "$dir/best"
if [ "$link" = wan ]; then
  # [sync] max_rate, honoured on the link: a fresh initial sync at 50Mbit (half the link). The
  # rate is hasync's channel bytes (compressed frames, what max_rate counts) over the phases that
  # move them (the listing and requests, then the transfer); must be within 5% of 6.25 MB/s.
  # The link's own bytes (IP, TCP and ssh headers too) over the same time are printed beside it.
  mkdir -p "$dir/hr" "$dir/hr-state"
  config hr "$dir/hr"
  trust hr
  sync
  rx() { "${S_EXEC[@]}" cat "/sys/class/net/hbs$$/statistics/rx_bytes"; }
  rx0=$(rx)
  "${S_EXEC[@]}" "$H" sync --config "$dir/hr.toml" --json --log-level warn --host "$host" \
    --max-rate 50Mbit >"$dir/rate.json"
  rx1=$(rx)
  diff -r "$dir/src" "$dir/hr" >/dev/null || { echo "bench: the max_rate copy differs" >&2; exit 1; }
  num() { grep -o "\"$1\": *[0-9.e+-]*" "$dir/rate.json" | head -1 | sed 's/.*: *//'; }
  echo
  awk -v b="$(num bytes_wire)" -v r="$(num requests)" -v t="$(num transfer)" -v l=$((rx1 - rx0)) '
    BEGIN {
      s = r + t; want = 50e6; got = b * 8 / (s > 0 ? s : 1e-9); off = (got - want) / want * 100
      printf "max_rate check: 50 Mbit/s asked, %.2f Mbit/s read (%.0f bytes in %.2f s, %+.1f%%): %s\n",
             got / 1e6, b, s, off, (off <= 5 && off >= -5) ? "ok" : "OUTSIDE 5%"
      printf "   the link carried %.2f Mbit/s over the same time (headers and the rest of the sync included)\n",
             l * 8 / (s > 0 ? s : 1e-9) / 1e6
      exit (off <= 5 && off >= -5) ? 0 : 1
    }'
fi
