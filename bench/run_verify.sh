#!/usr/bin/env bash
# The verify benchmark (bench/run.sh verify [--scale F] [--dir D] [--keep]): proving a synced
# Secondary equal to its Primary, side by side in one run on this machine.
#
# The files suite's tree (bench/make_tree.cc, about 2 GiB at scale 1) and the database suite's
# database (bench/db_schema.sql, about 1.4 GB at scale 1) on a Primary, synced once by hasync to a
# Secondary (its own tree and its own PostgreSQL 15 cluster). Then, with nothing different:
#   - hasync verify: Merkle descent over the manifests (caches kept by the sync), every table's
#     rows hashed per key range at one pinned point on both sides;
#   - hasync verify --checksum: the same, every file re-read on both sides;
#   - rsync -a -c -O --delete --dry-run: rsync's full-content comparison of the two trees
#     (-O: directory times aside, as hasync verify does);
#   - pg_dump of both databases at once, compared with cmp.
# Each must find the two sides equal (exit 0 / no itemized change / identical dumps).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
scale=1
dir=/tmp/hasync-bench-verify
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "bench/run.sh verify: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v rsync >/dev/null && [ -x /usr/lib/postgresql/15/bin/initdb ] || bash ci/install-deps.sh
[ -x build/release/engine/cli/hasync ] && [ -x build/release/bench/make_tree ] ||
  bash ci/build.sh release >/dev/null
H="$ROOT/build/release/engine/cli/hasync"
MT="$ROOT/build/release/bench/make_tree"
# shellcheck source=ci/pg-cluster.sh
. "$ROOT/ci/pg-cluster.sh"
stop_pg_cluster "$dir/pg-a"
stop_pg_cluster "$dir/pg-b"
rm -rf "$dir"
mkdir -p "$dir"/{src,dst,src-state,dst-state}
chmod 755 "$dir"
cleanup() {
  stop_pg_cluster "$dir/pg-a"
  stop_pg_cluster "$dir/pg-b"
  [ "$keep" = 1 ] || rm -rf "$dir"
}
trap cleanup EXIT
settings=(shared_buffers=1GB max_wal_size=8GB checkpoint_timeout=30min)
start_pg_cluster "$dir/pg-a" "${settings[@]}"
A=$PG_PORT
start_pg_cluster "$dir/pg-b" "${settings[@]}"
B=$PG_PORT
PSQL="$PG_BIN/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres"
$PSQL -p "$A" -c "CREATE DATABASE mdm"
$PSQL -p "$B" -c "CREATE DATABASE mdm"
create_apply_role "$B" mdm  # the Secondary applies as a role without superuser

echo "== building the tree and the database (scale $scale)"
"$MT" create "$dir/src" "$scale" >/dev/null
$PSQL -p "$A" -d mdm -v scale="$scale" -f bench/db_schema.sql
$PSQL -p "$A" -d mdm -c "VACUUM ANALYZE" -c "CHECKPOINT"
echo "   tree $(du -sh "$dir/src" | cut -f1), $(find "$dir/src" -type f | wc -l) files; database \
$($PSQL -p "$A" -d mdm -At -c "SELECT pg_size_pretty(pg_database_size('mdm'))"); machine: $(nproc) cores, $(uname -r)"
for n in src dst; do
  cat >"$dir/$n.toml" <<TOML
[node]
name = "bench-$n"
state_dir = "$dir/$n-state"
software_version = "bench"
[sync]
verify = "none"
[[files]]
name = "data"
root = "$dir/$n"
[database]
conninfo = "host=127.0.0.1 port=$([ $n = src ] && echo "$A" || echo "$B") dbname=mdm user=$([ $n = src ] && echo postgres || echo hasync_apply)"
TOML
done
TRANSPORT="$H serve --stdio --log-level warn --config $dir/src.toml"
echo "== syncing the Secondary"
"$H" sync --config "$dir/dst.toml" --log-level warn --transport "$TRANSPORT" | tail -n 1

: >"$dir/results"
# timed NAME CMD...: wall and CPU seconds (all processes of CMD) into the results.
timed() {
  local name="$1"
  shift
  sync
  /usr/bin/time -f '%e %U %S' -o "$dir/time" "$@" >"$dir/out" 2>"$dir/err" || {
    echo "bench: $name failed (or found a difference):" >&2
    tail -n 20 "$dir/err" "$dir/out" >&2
    exit 1
  }
  read -r wall user sys <"$dir/time"
  echo "$name $wall $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" >>"$dir/results"
  echo "   $name: ${wall} s"
}
rsync_check() {
  # Any itemized line is a difference.
  local out
  out=$(rsync -a -c -O --delete --dry-run --itemize-changes "$dir/src/" "$dir/dst/")
  [ -z "$out" ] || { echo "$out" | head >&2; return 1; }
}
dump_check() {
  # Both dumps at once, then compared; hasync's own schema, publications and event trigger (the
  # Primary's alone: docs/operating.md, "the database") aside, pg_dump's
  # \restrict lines (a random key per dump), owners and privileges (the Secondary's objects are its
  # apply role's: docs/operating.md, "Roles"), and comment lines (its public schema, the apply
  # role's, gets a "not creating schema" note).
  local d="$PG_BIN/pg_dump -h 127.0.0.1 -U postgres --no-publications --no-subscriptions -N hasync"
  d+=" --no-owner --no-privileges mdm"
  local f='/^\\(un)?restrict /d; /^--/d; /^$/d; /^CREATE EVENT TRIGGER hasync_publications /,/;$/d'
  $d -p "$A" | sed -E "$f" >"$dir/a.sql" &
  $d -p "$B" | sed -E "$f" >"$dir/b.sql"
  wait $!
  cmp "$dir/a.sql" "$dir/b.sql" || { diff "$dir/a.sql" "$dir/b.sql" | head >&2; return 1; }
}
echo "== verify, nothing different"
timed "hasync-verify" "$H" verify --config "$dir/dst.toml" --log-level warn --json --transport "$TRANSPORT"
timed "hasync-verify-checksum" "$H" verify --checksum --config "$dir/dst.toml" --log-level warn --json --transport "$TRANSPORT"
export dir A B PG_BIN
export -f rsync_check dump_check
timed "rsync-c-dry-run" bash -c rsync_check
timed "pg_dump-cmp" bash -c dump_check

echo
printf '%-24s %9s %9s\n' tool "wall s" "cpu s"
awk '{ printf "%-24s %9.2f %9.2f\n", $1, $2, $3 }' "$dir/results"
echo
echo "ratios (above 1: hasync verify is faster):"
awk '{ t[$1] = $2 }
     END { hv = t["hasync-verify"]; hc = t["hasync-verify-checksum"]
           both = t["rsync-c-dry-run"] + t["pg_dump-cmp"]
           printf "%-52s %6.2fx\n", "rsync -c + pg_dump cmp / hasync verify", both / hv
           printf "%-52s %6.2fx\n", "rsync -c + pg_dump cmp / hasync verify --checksum", both / hc }' "$dir/results"
