#!/usr/bin/env bash
# The database benchmark (bench/run.sh db [--scale F] [--dir D] [--keep]): hasync against
# PostgreSQL's own tools, side by side in one run, on two private PostgreSQL 15 clusters on this
# machine (ci/pg-cluster.sh: loopback, the same server settings for every tool).
#
# A deterministic database shaped like the admin data (bench/db_schema.sql: 200k users, 1M
# devices, 3M app installs, 5M events at scale 1) is copied to the second cluster by
#   - hasync sync (full copy: the slot's exported snapshot, pg_dump --schema-only, binary COPY,
#     indexes after the data, one transaction),
#   - pg_dump | psql,
#   - PostgreSQL's logical replication (CREATE SUBSCRIPTION after the schema, until every table
#     is ready),
#   - pgcopydb clone, when installed,
# then the Primary takes 100k updates, 50k inserts and 10k deletes in 160 transactions, and
# hasync's incremental sync is timed against the subscription's apply of the same changes (the
# subscription is disabled while they are made, then enabled; done when the last transaction's
# marker row has arrived). Every copy is compared with the source table by table.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
scale=1
dir=/tmp/hasync-bench-db
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "bench/run.sh db: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x /usr/lib/postgresql/15/bin/initdb ] || bash ci/install-deps.sh
[ -x build/release/engine/cli/hasync ] || bash ci/build.sh release >/dev/null
H="$ROOT/build/release/engine/cli/hasync"
# shellcheck source=ci/pg-cluster.sh
. "$ROOT/ci/pg-cluster.sh"
stop_pg_cluster "$dir/pg-a"
stop_pg_cluster "$dir/pg-b"
rm -rf "$dir"
mkdir -p "$dir"
chmod 755 "$dir"
cleanup() {
  stop_pg_cluster "$dir/pg-a"
  stop_pg_cluster "$dir/pg-b"
  [ "$keep" = 1 ] || rm -rf "$dir"
}
trap cleanup EXIT
settings=(shared_buffers=1GB max_wal_size=8GB checkpoint_timeout=30min
  max_worker_processes=16 max_logical_replication_workers=8)
start_pg_cluster "$dir/pg-a" "${settings[@]}"
A=$PG_PORT
start_pg_cluster "$dir/pg-b" "${settings[@]}"
B=$PG_PORT
PSQL="$PG_BIN/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres"
$PSQL -p "$A" -c "CREATE DATABASE mdm"
for db in h d s c; do $PSQL -p "$B" -c "CREATE DATABASE $db"; done
create_apply_role "$B" h  # hasync's Secondary applies as a role without superuser

echo "== building the database (scale $scale) on 127.0.0.1:$A"
$PSQL -p "$A" -d mdm -v scale="$scale" -f bench/db_schema.sql
$PSQL -p "$A" -d mdm -c "VACUUM ANALYZE" -c "CHECKPOINT"
echo "   $($PSQL -p "$A" -d mdm -At -c "SELECT pg_size_pretty(pg_database_size('mdm'))"); \
$(for t in users devices app_installs events; do printf '%s %s  ' "$t" "$($PSQL -p "$A" -d mdm -At -c "SELECT count(*) FROM $t")"; done)"
echo "   machine: $(nproc) cores, $(uname -r)"

for n in src h; do
  port=$([ $n = src ] && echo "$A" || echo "$B")
  db=$([ $n = src ] && echo mdm || echo h)
  mkdir -p "$dir/$n-state" "$dir/$n-files"
  cat >"$dir/$n.toml" <<TOML
[node]
name = "bench-$n"
state_dir = "$dir/$n-state"
software_version = "bench"
[database]
conninfo = "host=127.0.0.1 port=$port dbname=$db user=$([ $n = src ] && echo postgres || echo hasync_apply)"
TOML
done

: >"$dir/results"
# timed NAME CMD...: wall seconds of CMD into the results.
timed() {
  local name="$1"
  shift
  $PSQL -p "$B" -c CHECKPOINT
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$dir/out" 2>"$dir/err" || {
    echo "bench: $name failed:" >&2
    cat "$dir/err" "$dir/out" >&2
    exit 1
  }
  t1=$(date +%s.%N)
  echo "$name $(echo "$t1 - $t0" | bc)" >>"$dir/results"
  echo "   $name: $(echo "$t1 - $t0" | bc) s"
}
hasync_sync() {
  "$H" sync --config "$dir/h.toml" --json --log-level warn \
    --transport "$H serve --stdio --log-level warn --config $dir/src.toml"
}
subscribe() {
  $PG_BIN/pg_dump -h 127.0.0.1 -p "$A" -U postgres --schema-only mdm | $PSQL -p "$B" -d s
  $PSQL -p "$B" -d s -c "CREATE SUBSCRIPTION bench_sub CONNECTION 'host=127.0.0.1 port=$A \
dbname=mdm user=postgres' PUBLICATION bench_pub WITH (slot_name = bench_sub)"
  until [ "$($PSQL -p "$B" -d s -At -c "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ]; do
    sleep 0.2
  done
}
# same DB: every table of the copy equals the source's, row by row in key order.
same() {
  local t a b q
  for t in users:id devices:id app_installs:device_id,app_id events:id; do
    q="SELECT count(*), md5(string_agg(md5(x::text), '' ORDER BY ${t#*:})) FROM ${t%%:*} x"
    a=$($PSQL -p "$A" -d mdm -At -c "$q")
    b=$($PSQL -p "$B" -d "$1" -At -c "$q")
    [ "$a" = "$b" ] || { echo "bench: table ${t%%:*} of $1 differs from the source" >&2; exit 1; }
  done
}

$PSQL -p "$A" -d mdm -c "CREATE PUBLICATION bench_pub FOR ALL TABLES"
echo "== initial copy"
timed "hasync initial" hasync_sync
timed "pg_dump|psql initial" bash -c "$PG_BIN/pg_dump -h 127.0.0.1 -p $A -U postgres mdm | $PSQL -p $B -d d"
timed "subscription initial" subscribe
if ! command -v pgcopydb >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgcopydb >/dev/null 2>&1 || true
fi
if command -v pgcopydb >/dev/null; then
  timed "pgcopydb initial" pgcopydb clone --dir "$dir/pgcopydb" --jobs "$(nproc)" \
    --index-jobs "$(nproc)" --source "postgres://postgres@127.0.0.1:$A/mdm" \
    --target "postgres://postgres@127.0.0.1:$B/c"
fi
same h
same d
same s

echo "== incremental: 100k updates, 50k inserts, 10k deletes (x $scale) in 160 transactions"
$PSQL -p "$B" -d s -c "ALTER SUBSCRIPTION bench_sub DISABLE"
until [ "$($PSQL -p "$A" -d mdm -At -c "SELECT active FROM pg_replication_slots WHERE slot_name = 'bench_sub'")" = f ]; do
  sleep 0.2
done
$PSQL -p "$A" -d mdm -v scale="$scale" -f bench/db_changes.sql
rows=$(awk -v s="$scale" 'BEGIN { printf "%d", 160000 * s }')
timed "hasync incremental" hasync_sync
catch_up() {
  $PSQL -p "$B" -d s -c "ALTER SUBSCRIPTION bench_sub ENABLE"
  until [ "$($PSQL -p "$B" -d s -At -c "SELECT count(*) FROM events WHERE kind = 'bench-marker'")" = 1 ]; do
    sleep 0.05
  done
}
timed "subscription incremental" catch_up
same h
same s

echo
printf '%-14s %-16s %9s %12s\n' case tool "wall s" "rows/s"
awk -v rows="$rows" '{ split($1, a, " "); n = NF; t = $n; $n = ""; sub(/ $/, "");
  kase = $NF; $NF = ""; sub(/ $/, ""); tool = $0;
  printf "%-14s %-16s %9.2f %12s\n", kase, tool, t, kase == "incremental" ? sprintf("%.0f", rows / t) : "" }' \
  "$dir/results"
echo
echo "ratios, other / hasync (above 1: hasync is faster):"
awk '{ t = $NF; kase = $(NF - 1); tool = $1; for (i = 2; i < NF - 1; ++i) tool = tool " " $i;
       if (tool == "hasync") h[kase] = t; else { o[++n] = tool " " kase; ot[n] = t; ok[n] = kase } }
     END { for (i = 1; i <= n; ++i) printf "%-32s %6.2fx\n", o[i], ot[i] / h[ok[i]] }' "$dir/results"
