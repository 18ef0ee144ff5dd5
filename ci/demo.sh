#!/usr/bin/env bash
# The main job on the embedded default: a local Primary/Secondary pair on this machine, each with
# its own PostgreSQL 15 cluster on a loopback port and its own file tree. Builds hasync, fills the
# Primary's database and tree with sample data, runs an initial sync, changes the Primary, runs an
# incremental sync, and shows what moved; then the same pair over ssh, then a fail-over with both
# nodes' daemons and the guide's recovery. Everything lives under
# ${DEMO_DIR:-/tmp/hasync-demo}; the clusters and sshd it starts are stopped when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
# Runs "$@" in the foreground and prints a line every 30 s meanwhile, so that a long quiet step
# (apt-get on a fresh machine) is not taken for a hang. The ticker stops with the command, or
# within 30 s of this script ending (its sleep holds no output open, so a pipe is not kept waiting).
with_ticker() {
  local label=$1 rc=0 ticker
  shift
  (
    t=0
    while sleep 30 >/dev/null 2>&1 && kill -0 $$ 2>/dev/null; do
      t=$((t + 30))
      echo "   ... still $label (${t} s)"
    done
  ) &
  ticker=$!
  "$@" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$rc"
}
echo "hasync demo: on a fresh machine, installing packages and building hasync take most of the"
echo "first run (about 6 minutes on 2 cores); each step below says what it is doing."
echo "== installing packages (apt-get, ci/install-deps.sh; nothing to do when all are present) ..."
with_ticker "installing packages" bash ci/install-deps.sh
echo "   packages: ready"
if [ -x build/release/engine/cli/hasync ]; then
  echo "== hasync is already built (build/release; remove it to rebuild)"
else
  echo "== building hasync (release, ci/build.sh: configure, then ninja's [n/N] progress) ..."
  bash ci/build.sh release hasync  # the binary only: the tests are ci/test.sh's
fi
H="$PWD/build/release/engine/cli/hasync"
D="${DEMO_DIR:-/tmp/hasync-demo}"
# shellcheck source=ci/pg-cluster.sh
. ci/pg-cluster.sh
# A previous run's clusters, if it was interrupted, go first.
stop_pg_cluster "$D/pg-a"
stop_pg_cluster "$D/pg-b"
rm -rf "$D"
mkdir -p "$D"/{primary,secondary,primary-state,secondary-state}
chmod 755 "$D"
SSHD_PID=""
DAEMONS=()
cleanup() {
  for pid in "${DAEMONS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${DAEMONS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -z "$SSHD_PID" ] || kill "$SSHD_PID" 2>/dev/null || true
  stop_pg_cluster "$D/pg-a"
  stop_pg_cluster "$D/pg-b"
}
trap cleanup EXIT
echo "== two PostgreSQL 15 clusters on loopback (initdb as postgres)"
start_pg_cluster "$D/pg-a"
PORT_A=$PG_PORT
start_pg_cluster "$D/pg-b"
PORT_B=$PG_PORT
PSQL="$PG_BIN/psql -X -q -h 127.0.0.1 -U postgres"
$PSQL -p "$PORT_A" -c "CREATE DATABASE mdm"
$PSQL -p "$PORT_B" -c "CREATE DATABASE mdm"
# mdm-b applies as hasync_apply, no superuser; it serves after a failover, hence "serves".
create_apply_role "$PORT_B" mdm serves
echo "   Primary's cluster on 127.0.0.1:$PORT_A, Secondary's on 127.0.0.1:$PORT_B"
echo "== settings for the two nodes: $D/a.toml (mdm-a, the Primary), $D/b.toml (mdm-b, the Secondary)"
for n in a b; do
  cat >"$D/$n.toml" <<TOML
[node]
name = "mdm-$n"
state_dir = "$D/$([ $n = a ] && echo primary || echo secondary)-state"
software_version = "11.12.0.0"

[[files]]
name = "app"
root = "$D/$([ $n = a ] && echo primary || echo secondary)"
exclude = ["*.tmp"]

[database]
conninfo = "host=127.0.0.1 port=$([ $n = a ] && echo "$PORT_A" || echo "$PORT_B") dbname=mdm user=$([ $n = a ] && echo postgres || echo hasync_apply)"

[ha]
enabled = true
$([ $n = a ] && printf 'mode = "primary"\nnode_status = "active"\npeer = "127.0.0.1"' || echo 'mode = "secondary"')

[secondary]
primary = "127.0.0.1"
# Scheduled syncs far from now: the demo runs its syncs by hand.
start_time = "$(date -u -d '+12 hours' +%H):00"
run_every = "1d"
TOML
done
echo "== sample data on the Primary: the admin database and $D/primary"
$PSQL -p "$PORT_A" -d mdm <<'SQL'
CREATE TYPE platform AS ENUM ('ios', 'android', 'windows', 'macos');
CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL, email text UNIQUE,
  created timestamptz NOT NULL DEFAULT now());
CREATE TABLE devices (id bigserial PRIMARY KEY, user_id bigint REFERENCES users (id),
  platform platform NOT NULL, serial uuid NOT NULL DEFAULT gen_random_uuid(), attrs jsonb,
  last_seen timestamptz);
CREATE TABLE app_installs (device_id bigint REFERENCES devices (id), app text,
  version text, PRIMARY KEY (device_id, app));
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(), kind text, payload jsonb);
INSERT INTO users (name, email) SELECT 'user ' || g, 'user' || g || '@example.com'
  FROM generate_series(1, 2000) g;
INSERT INTO devices (user_id, platform, attrs, last_seen)
  SELECT 1 + g % 2000, (ARRAY['ios', 'android', 'windows', 'macos'])[1 + g % 4]::platform,
         jsonb_build_object('model', 'model-' || g % 37, 'os', '17.' || g % 5), now()
  FROM generate_series(1, 10000) g;
INSERT INTO app_installs SELECT d, 'app-' || a, '1.' || a FROM generate_series(1, 10000) d,
  generate_series(1, 3) a;
INSERT INTO events (kind, payload) SELECT 'enrolled', jsonb_build_object('device', g)
  FROM generate_series(1, 20000) g;
SQL
P="$D/primary"
mkdir -p "$P/certs" "$P/config" "$P/packages" "$P/empty"
for i in $(seq 1 200); do printf 'device-%05d\tenrolled\t%s\n' "$i" "$(date -u +%F)" >"$P/config/device-$i.conf"; done
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/certs/server.key" -out "$P/certs/server.pem" \
  -days 365 -subj "/CN=mdm-a" 2>/dev/null
head -c 64M /dev/urandom >"$P/packages/app-bundle.bin"
ln -sf ../certs/server.pem "$P/config/current-cert.pem"
echo scratch >"$P/config/edit.tmp"
T="$H serve --stdio --log-level warn --config $D/a.toml"
echo
echo "== initial sync"
"$H" sync --config "$D/b.toml" --transport "$T" --progress --log-level warn
echo
echo "== the Primary changes: one block of the bundle, one config, one new file, one deleted;"
echo "   in the database 100 devices enrolled, 50 retired, 500 check-ins, 150 events"
$PSQL -p "$PORT_A" -d mdm <<'SQL'
INSERT INTO devices (user_id, platform, attrs) SELECT 1 + g % 2000, 'android', '{"new": true}'
  FROM generate_series(1, 100) g;
DELETE FROM app_installs WHERE device_id BETWEEN 1 AND 50;
DELETE FROM devices WHERE id BETWEEN 1 AND 50;
UPDATE devices SET last_seen = now() WHERE id BETWEEN 1000 AND 1499;
INSERT INTO events (kind, payload) SELECT 'checked-in', jsonb_build_object('device', g)
  FROM generate_series(1, 150) g;
SQL
printf 'PATCHED' | dd of="$P/packages/app-bundle.bin" bs=1 seek=$((40 * 65536)) conv=notrunc 2>/dev/null
echo "policy = strict" >>"$P/config/device-7.conf"
echo "new" >"$P/config/device-new.conf"
rm "$P/config/device-200.conf"
echo "-- dry run:"
"$H" sync --config "$D/b.toml" --transport "$T" --dry-run --log-level warn
echo
echo "== incremental sync (JSON summary)"
"$H" sync --config "$D/b.toml" --transport "$T" --json --log-level warn
echo
rm "$P/config/edit.tmp"
echo "== comparing the two trees (diff -r) and every table (row count and md5 of the rows)"
if diff -r "$P" "$D/secondary" >/dev/null; then
  echo "== the Secondary is byte-identical to the Primary (diff -r, excluded *.tmp aside)"
else
  echo "== MISMATCH between $P and $D/secondary" >&2
  exit 1
fi
# The guide's check after a sync: the device count is exactly the Primary's; and every table.
same_db() {
  local t a b
  for t in users devices app_installs events; do
    a=$($PSQL -p "$PORT_A" -d mdm -At -c "SELECT count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM $t x")
    b=$($PSQL -p "$PORT_B" -d mdm -At -c "SELECT count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM $t x")
    [ "$a" = "$b" ] || { echo "== MISMATCH in table $t: Primary $a, Secondary $b" >&2; return 1; }
  done
}
same_db
echo "== the databases are identical: devices on the Primary $($PSQL -p "$PORT_A" -d mdm -At -c \
  "SELECT count(*) FROM devices"), on the Secondary $($PSQL -p "$PORT_B" -d mdm -At -c \
  "SELECT count(*) FROM devices") (every table compared row by row)"

# The same pair over ssh, as two servers would run it: a private sshd on a loopback port (this
# machine's own sshd, if any, is left alone), keys exchanged with `hasync trust`, the guide's
# Test Connection, then a sync over ssh.
if [ "$(id -u)" -ne 0 ]; then
  echo "== (over ssh: skipped, the private sshd logs in as root)"
  exit 0
fi
echo
echo "== over ssh: a private sshd on loopback, trusted hosts, Test Connection"
# shellcheck source=ci/private-sshd.sh
. ci/private-sshd.sh
start_private_sshd "$D" "$D/authorized_keys"
port=$SSHD_PORT
for n in a b; do
  cat >>"$D/$n.toml" <<TOML

[ssh]
port = $port
user = "root"
authorized_keys = "$D/authorized_keys"
TOML
done
echo "-- on mdm-a: hasync trust add 127.0.0.1 --name mdm-b --key '<mdm-b's key>'"
"$H" --config "$D/a.toml" --log-level warn trust add 127.0.0.1 --name mdm-b \
  --key "$("$H" --config "$D/b.toml" --log-level warn trust key)"
echo "-- on mdm-b: hasync trust add 127.0.0.1 --name mdm-a --key '<mdm-a's key>', then trust test"
"$H" --config "$D/b.toml" --log-level warn trust add 127.0.0.1 --name mdm-a \
  --key "$("$H" --config "$D/a.toml" --log-level warn trust key)"
"$H" --config "$D/b.toml" --log-level warn trust test 127.0.0.1 --accept-host-key
echo "-- on mdm-a: trust test (the guide's Test Connection runs both ways)"
"$H" --config "$D/a.toml" --log-level warn trust test 127.0.0.1 --accept-host-key
"$H" --config "$D/b.toml" --log-level warn trust list
echo "device-9 = retired" >>"$P/config/device-9.conf"
$PSQL -p "$PORT_A" -d mdm -c "UPDATE devices SET attrs = attrs || '{\"retired\": true}' WHERE id = 900"
echo "-- hasync sync --host 127.0.0.1"
"$H" sync --config "$D/b.toml" --host 127.0.0.1 --log-level warn
echo "== comparing the two trees and every table again"
if diff -r "$P" "$D/secondary" >/dev/null && same_db; then
  echo "== over ssh too, the Secondary's files and database are identical to the Primary's"
  echo
  echo "== hasync verify: files by Merkle tree, every table by rows and row hashes at one point"
  "$H" --config "$D/b.toml" --log-level warn verify --host 127.0.0.1
  echo
  echo "== the Secondary's node: hasync status, hasync history"
  "$H" --config "$D/b.toml" --log-level warn status
  "$H" --config "$D/b.toml" --log-level warn history -n 5
else
  echo "== MISMATCH after the sync over ssh" >&2
  exit 1
fi

# Fail-over, as the guide's Step 6 and 7 describe it: both daemons run (the Secondary's
# heartbeat checks the Primary over ssh; each serves the load balancer's status pages), the
# Primary dies (its daemon and its sshd stop), the Secondary promotes itself, the old Primary
# comes back and steps aside, and the guide's recovery swaps the roles back with commands alone.
echo
echo "== fail-over: both daemons, heartbeat every second, 3 failures before promotion"
SA=$(free_loopback_port 20000 5000)
SB=$(free_loopback_port 25000 5000)
for n in a b; do
  cat >>"$D/$n.toml" <<TOML

[status]
listen = "127.0.0.1:$([ $n = a ] && echo "$SA" || echo "$SB")"

[failover]
heartbeat_interval = "1s"
recheck_interval = "1s"
failures_before_failover = 3
if_failure_detected = "promote"

[notify]
command = "echo \"\$HASYNC_TIME \$HASYNC_NODE \$HASYNC_EVENT: \$HASYNC_MESSAGE\" >> $D/events.log"
TOML
done
page() { curl -s -o /dev/stdout -w ' (HTTP %{http_code})\n' "http://127.0.0.1:$1$2" || true; }
wait_page() {  # port path text: waits up to 30 s for the page to contain text
  for _ in $(seq 150); do
    curl -s "http://127.0.0.1:$1$2" 2>/dev/null | grep -q "$3" && return 0
    sleep 0.2
  done
  echo "== timed out waiting for $2 on port $1 to say '$3'" >&2
  return 1
}
echo "== starting both daemons (logs: $D/a-daemon.log, $D/b-daemon.log) and waiting for their status pages"
"$H" daemon --config "$D/a.toml" >"$D/a-daemon.log" 2>&1 &
A_PID=$!
DAEMONS+=("$A_PID")
"$H" daemon --config "$D/b.toml" >"$D/b-daemon.log" 2>&1 &
DAEMONS+=("$!")
wait_page "$SA" /status/status.html "MOBILEIRON-STATUS: OK"
wait_page "$SB" /hastatus.html "Mode: Standby"
echo "-- mdm-a /status/status.html: $(page "$SA" /status/status.html)"
echo "-- mdm-b /hastatus.html:      $(page "$SB" /hastatus.html)"
echo "-- mdm-b /status/status.html: $(page "$SB" /status/status.html)"
sleep 2
echo "-- mdm-b's heartbeat, in its log under [heartbeat] (the guide's Step 7, task 5):"
grep '\[heartbeat\]' "$D/b-daemon.log" | tail -n 2
echo "== the Primary dies: its daemon and its sshd stop"
kill "$A_PID"
wait "$A_PID" 2>/dev/null || true
pkill -P "$SSHD_PID" 2>/dev/null || true  # its open sessions too, as a dead host's would be
kill "$SSHD_PID"
wait "$SSHD_PID" 2>/dev/null || true
SSHD_PID=""
echo "-- waiting for mdm-b's heartbeat to fail 3 times and promote it (a few seconds)"
wait_page "$SB" /status/status.html "MOBILEIRON-STATUS: OK"
echo "-- mdm-b promoted itself: /status/status.html $(page "$SB" /status/status.html)"
grep '\[heartbeat\]' "$D/b-daemon.log" | grep -v alive | tail -n 4
"$H" --config "$D/b.toml" --log-level warn status | head -n 2
echo "== the old Primary comes back (sshd and daemon), still believing it is the Primary"
/usr/sbin/sshd -D -e -f "$D/sshd_config" 2>>"$D/sshd.log" &
SSHD_PID=$!
sleep 0.5
"$H" daemon --config "$D/a.toml" >>"$D/a-daemon.log" 2>&1 &
A_PID=$!
DAEMONS+=("$A_PID")
wait_page "$SA" /status/status.html "superseded"
echo "-- mdm-a steps aside: /status/status.html $(page "$SA" /status/status.html)"
echo "== the guide's recovery: mdm-a follows mdm-b, then the roles swap back"
"$H" --config "$D/a.toml" --log-level warn mode secondary
"$H" --config "$D/a.toml" --log-level warn sync --host 127.0.0.1
"$H" --config "$D/b.toml" --log-level warn mode secondary
"$H" --config "$D/a.toml" --log-level warn mode primary
"$H" --config "$D/b.toml" --log-level warn sync --host 127.0.0.1
wait_page "$SA" /status/status.html "MOBILEIRON-STATUS: OK"
wait_page "$SB" /hastatus.html "Mode: Standby"
echo "-- mdm-a /status/status.html: $(page "$SA" /status/status.html)"
echo "-- mdm-b /hastatus.html:      $(page "$SB" /hastatus.html)"
echo "-- the events both nodes' notify command received:"
cat "$D/events.log"
echo "== comparing the two trees and every table after the recovery"
if diff -r "$P" "$D/secondary" >/dev/null && same_db; then
  echo "== after fail-over and recovery, the pair is identical again (files and every table)"
else
  echo "== MISMATCH after the recovery" >&2
  exit 1
fi
