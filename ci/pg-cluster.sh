# Sourced by ci/demo.sh and bench/run.sh: a private PostgreSQL 15 cluster (Debian's
# postgresql-15), created with initdb as the postgres user and listening on a free loopback
# port only, with its socket in its own folder. The system's clusters, if any, are left alone.
#
#   start_pg_cluster DIR [EXTRA_SETTING...]
#
# creates DIR/data, starts the server (log in DIR/postgres.log) and sets PG_PORT. Trust
# authentication for loopback connections only: the cluster is a test fixture. wal_level is
# logical (a Primary needs it, and a Secondary becomes a Primary). Stop it with
# stop_pg_cluster DIR.
#
#   create_apply_role PORT DB [serves]
#
# makes the Secondary's apply role hasync_apply (docs/operating.md, "Roles"): LOGIN, no
# superuser, allowed to set session_replication_role, with CREATE on DB and its public schema.
# With "serves" (a node that is Primary too, after a failover) it also gets REPLICATION and DB the
# publication hasync (FOR ALL TABLES needs a superuser). The one-time superuser step.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# shellcheck source=ci/private-sshd.sh
. "$(dirname "${BASH_SOURCE[0]}")/private-sshd.sh"  # free_loopback_port

pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg_cluster() {
  local dir="$1"
  shift
  PG_PORT=$(free_loopback_port 20000 10000) ||
    { echo "pg cluster: no free loopback port" >&2; return 1; }
  mkdir -p "$dir"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
  pg_as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  local opts="-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$dir"
  opts+=" -c wal_level=logical -c max_wal_senders=10 -c max_replication_slots=10"
  for s in "$@"; do opts+=" -c $s"; done
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "$opts" -w start \
    >/dev/null || { cat "$dir/postgres.log" >&2; return 1; }
}

stop_pg_cluster() {
  if [ -d "$1/data" ]; then
    pg_as_owner "$PG_BIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

create_apply_role() {
  local port="$1" db="$2" serves="${3:-}"
  local psql="$PG_BIN/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $port -U postgres"
  $psql -d postgres -c "CREATE ROLE hasync_apply LOGIN" \
    -c "GRANT SET ON PARAMETER session_replication_role TO hasync_apply" \
    -c "GRANT CREATE ON DATABASE $db TO hasync_apply" || return 1
  $psql -d "$db" -c "ALTER SCHEMA public OWNER TO hasync_apply" || return 1
  if [ "$serves" = serves ]; then
    $psql -d postgres -c "ALTER ROLE hasync_apply REPLICATION" || return 1
    $psql -d "$db" -c "CREATE PUBLICATION hasync FOR ALL TABLES" || return 1
  fi
}
