#!/usr/bin/env bash
# The fail-over benchmark (bench/run.sh failover [--runs N] [--quick] [--etcd] [--dir D] [--keep]): how
# long clients are without service when the Primary dies, measured where they see it, at the
# load balancer: from the Primary's death to the first request HAProxy answers from the
# promoted Secondary.
#
# Each run builds a pair in its own folder under D (default /tmp/hasync-bench-failover), as
# tests/integration/failover_test.cc does: mdm-a Primary (active, HA enabled) and mdm-b
# Secondary (HA enabled), each with a small files root, [status] listen and lb_listen on free
# loopback ports; one `hasync sync` so mdm-b has data; both daemons, each reaching its peer
# through a `--transport` command that fails before hello while the peer's up-file is gone
# (`test -e <run>/a-up && exec hasync serve --stdio --config <run>/a.toml`); HAProxy in front
# with the test's configuration (checks on lb_listen every 200 ms, fall 2 rise 2, mdm-b a
# backup, a stick table). Once HAProxy serves mdm-a and mdm-b's heartbeat has just seen it
# alive, the script waits a random part of one heartbeat interval (a death comes at any point
# of the heartbeat's period), kills, takes the time (date +%s.%N) and GETs the front's
# /status.json every 50 ms (curl --max-time 1, each GET started without waiting for the one
# before: see poll) until a 200 answered by mdm-b arrives; that arrival is the figure.
#
# Cases: settings x death.
#   settings  defaults: [failover] left out, hasync's defaults (engine/config/settings.h:
#             heartbeat_interval 10 s, recheck_interval 5 s, failures_before_failover 3);
#             fast: heartbeat_interval 300ms, recheck_interval 200ms, failures 3.
#   death     node: the whole node dies (its up-file removed, so ssh to it fails, and its
#             daemon and children killed -9);
#             daemon: only the daemon dies (kill -9; its channel still answers, and the serve
#             side's hello reports the daemon dead, so hasync fails the Primary over too).
# --etcd adds the same deaths with etcd as the arbiter ([failover] etcd, lease_ttl): each run
# starts its own three-member etcd cluster (/usr/bin/etcd 3.4, as tests/etcd_harness.h: loopback
# ports, --heartbeat-interval 100, --election-timeout 500, data in the run's folder) and waits
# until `etcdctl endpoint health` passes for all three (at most 20 s); both nodes name it, and the
# death comes only once mdm-a's /status.json says etcd.lease_valid. Settings rows: the defaults
# with lease_ttl 30 (hasync's default; about 40 s a run, so once per death unless --runs is
# given) and fast with lease_ttl 5. A Secondary promotes only after winning etcd's leader key,
# i.e. after the dead Primary's lease expired: fail-over takes about lease_ttl plus the
# heartbeat's checks. The table then gains an `etcd` column, its rows after the others.
# --runs N (default 3) repeats each case; --quick runs the fast cases once each (CI's smoke);
# --quick --etcd runs only the fast etcd cases, once each.
# Every wait is bounded (120 s); every process started here is killed by its id at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
runs=3
runs_given=0
quick=0
etcd=0
dir=/tmp/hasync-bench-failover
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; runs_given=1; shift 2 ;;
    --quick) quick=1; shift ;;
    --etcd) etcd=1; shift ;;
    --dir) dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "bench/run.sh failover: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh failover: --runs takes a count" >&2; exit 2; }
[ "$quick" = 0 ] || runs=1
command -v haproxy >/dev/null && command -v curl >/dev/null || bash ci/install-deps.sh
[ -x build/release/engine/cli/hasync ] || bash ci/build.sh release >/dev/null
H="$ROOT/build/release/engine/cli/hasync"
# shellcheck source=ci/private-sshd.sh
. "$ROOT/ci/private-sshd.sh"  # free_loopback_port
WAIT_S=120  # the bound of every wait
ETCD_WAIT_S=20  # the bound of the wait for a fresh etcd cluster's health
have_etcd() { [ -x /usr/bin/etcd ] && command -v etcdctl >/dev/null; }
[ "$etcd" = 0 ] || have_etcd || bash ci/install-deps.sh
if [ "$etcd" = 1 ] && ! have_etcd; then
  echo "bench/run.sh failover: --etcd needs /usr/bin/etcd and etcdctl (apt-get install etcd-server etcd-client)" >&2
  exit 2
fi

rm -rf "$dir"
mkdir -p "$dir"
chmod 700 "$dir"
pids=()  # every process started here (daemons as process-group leaders, haproxy, etcd)
stop_all() {
  local p
  for p in "${pids[@]}"; do
    kill -9 -- "-$p" 2>/dev/null || kill -9 "$p" 2>/dev/null || true
  done
  pids=()
}
cleanup() {
  stop_all
  [ "$keep" = 1 ] || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ports N: N distinct free loopback ports, below the kernel's ephemeral range (32768 up here)
# so that no client's connection holds one. Another engineer's test may still take one before
# a daemon binds it: the run then starts again with new ports (run_once).
ports() {
  local got=() p
  while [ "${#got[@]}" -lt "$1" ]; do
    p=$(free_loopback_port 20000 12000)
    [[ " ${got[*]} " == *" $p "* ]] || got+=("$p")
  done
  echo "${got[@]}"
}

# config RUN SIDE NAME ROLE SETTINGS STATUS_PORT LB_PORT: one node's settings file. SETTINGS
# defaults|fast, or defaults-etcd|fast-etcd: the same plus the run's etcd cluster ($etcd_urls)
# and its lease_ttl.
config() {
  local rd="$1" side="$2" name="$3" role="$4" settings="$5" base="${5%-etcd}"
  {
    printf '[node]\nname = "%s"\nstate_dir = "%s"\nsoftware_version = "bench"\n' \
      "$name" "$rd/$side-state"
    printf '[[files]]\nname = "data"\nroot = "%s"\n' "$rd/$side"
    if [ "$role" = primary ]; then
      printf '[ha]\nenabled = true\nmode = "primary"\nnode_status = "active"\n'
    else
      printf '[ha]\nenabled = true\n'
    fi
    if [ "$base" = fast ]; then
      printf '[failover]\nheartbeat_interval = "300ms"\nrecheck_interval = "200ms"\n'
      printf 'failures_before_failover = 3\nif_failure_detected = "promote"\n'
    fi  # defaults: no [failover] section at all (with etcd: only etcd's two keys)
    if [ "$settings" != "$base" ]; then
      [ "$base" = fast ] || printf '[failover]\n'
      printf 'etcd = "%s"\nlease_ttl = %s\n' "$etcd_urls" "${lease_ttl[$base]}"
    fi
    printf '[status]\nlisten = "127.0.0.1:%s"\nlb_listen = "127.0.0.1:%s"\n' "$6" "$7"
  } >"$rd/$side.toml"
}

# to RUN SIDE: the channel to SIDE's serve side; fails before hello while SIDE is down.
to() { echo "test -e $1/$2-up && exec $H serve --stdio --log-level warn --config $1/$2.toml"; }

# started RUN PID WHAT LOG: fails the run unless PID still runs; a port taken meanwhile (the
# daemon's "cannot listen", haproxy's "cannot bind") sets port_taken instead.
started() {
  kill -0 "$2" 2>/dev/null && return 0
  if grep -q -E 'cannot listen|cannot bind|address already in use' "$4"; then
    port_taken=1
    return 0
  fi
  echo "bench/run.sh failover: $3 exited; the end of $4:" >&2
  tail -20 "$4" >&2
  exit 1
}

# start_daemon RUN SIDE PEER STATUS_PORT: SIDE's daemon in a process group of its own (its pid
# is the group's id); waits until its status page answers.
start_daemon() {
  local rd="$1" side="$2" peer="$3" port="$4" pid
  setsid "$H" daemon --log-level info --config "$rd/$side.toml" --transport "$(to "$rd" "$peer")" \
    >>"$rd/$side-daemon.log" 2>&1 &
  pid=$!
  disown "$pid"  # killed -9 on purpose: no job notice from bash
  pids+=("$pid")
  eval "${side}_pid=$pid"
  until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/status.json"; do
    started "$rd" "$pid" "the $side daemon" "$rd/$side-daemon.log"
    [ "$port_taken" = 0 ] || return 0
    waited "$rd" "the $side daemon's status page" "$rd/$side-daemon.log"
    sleep 0.05
  done
}

# haproxy_config RUN FRONT A_PORT A_LB B_PORT B_LB: FailoverTest::StartLoadBalancer's config.
haproxy_config() {
  cat >"$1/haproxy.cfg" <<CFG
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
  timeout check 2s
frontend fe
  bind 127.0.0.1:$2
  default_backend mdm
backend mdm
  stick-table type integer size 1 nopurge
  stick on int(1)
  option httpchk
  http-check connect
  http-check send meth GET uri /hastatus.html
  http-check expect string MOBILEIRON-STATUS:\ OK\ (Mode:
  http-check connect
  http-check send meth GET uri /status/status.html
  http-check expect string MOBILEIRON-STATUS:\ OK
  server mdm-a 127.0.0.1:$3 check port $4 inter 200 fall 2 rise 2
  server mdm-b 127.0.0.1:$5 check port $6 inter 200 fall 2 rise 2 backup
CFG
}

# served_by RUN FRONT: the node that answered a GET of the front's /status.json with 200, or
# "none (code)".
served_by() {
  local code node
  code=$(curl -s --max-time 1 -o "$1/front.json" -w '%{http_code}' \
    "http://127.0.0.1:$2/status.json" 2>/dev/null) || true
  if [ "$code" != 200 ]; then
    echo "none ($code)"
    return 0
  fi
  node=$(sed -n 's/.*"node" *: *"\([^"]*\)".*/\1/p' "$1/front.json")
  echo "${node:-none (no node)}"
}

# waited RUN WHAT LOG: fails the run (with LOG's tail) once the run's current wait, started at
# $wait_from, passed WAIT_S.
waited() {
  if [ "$(($(date +%s) - wait_from))" -ge "$WAIT_S" ]; then
    echo "bench/run.sh failover: still no $2 after ${WAIT_S} s; the end of $3:" >&2
    tail -20 "$3" >&2
    exit 1
  fi
}

# poll RUN FRONT: one GET of the front's /status.json (curl --max-time 1); appends the time its
# answer arrived to RUN/b-answers when it was a 200 from mdm-b. run_once starts one every 50 ms
# without waiting for the previous: right after the death HAProxy holds a request sent to the
# dead node (its retry after a refused connection waits up to 1 s), and one held request must
# not hide the answers behind it.
poll() {
  local out code
  out=$(mktemp "$1/poll.XXXXXX")
  code=$(curl -s --max-time 1 -o "$out" -w '%{http_code}' "http://127.0.0.1:$2/status.json" \
    2>/dev/null) || true
  if [ "$code" = 200 ] && grep -q '"node" *: *"mdm-b"' "$out"; then
    date +%s.%N >>"$1/b-answers"
  fi
  rm -f "$out"
}

alive_count() { grep -c '\[heartbeat\] .* alive' "$1/b-daemon.log" || true; }

# kill_primary RUN DEATH: the Primary dies as DEATH says.
kill_primary() {
  case "$2" in
    node)  # the node: ssh to it fails from now on, its daemon and its children die
      rm -f "$1/a-up"
      kill -9 -- "-$a_pid" ;;
    daemon)  # only the daemon: sshd (the channel) still answers hello
      kill -9 "$a_pid" ;;
  esac
}

# start_etcd RUN PORTS...: a three-member etcd cluster in RUN/etcd (six ports: client and peer
# of each member); sets etcd_urls to its client URLs, comma-separated, as [failover] etcd takes
# them, and waits (at most ETCD_WAIT_S) until every member is healthy.
declare -A lease_ttl=([defaults]=30 [fast]=5)
start_etcd() {
  local rd="$1" i pid initial="" from
  shift
  local cp=("$1" "$3" "$5") pp=("$2" "$4" "$6")
  etcd_urls=""
  for i in 0 1 2; do
    initial+="${initial:+,}m$i=http://127.0.0.1:${pp[$i]}"
    etcd_urls+="${etcd_urls:+,}http://127.0.0.1:${cp[$i]}"
  done
  mkdir -p "$rd/etcd"
  for i in 0 1 2; do
    /usr/bin/etcd --name="m$i" --data-dir="$rd/etcd/m$i" \
      --listen-client-urls="http://127.0.0.1:${cp[$i]}" \
      --advertise-client-urls="http://127.0.0.1:${cp[$i]}" \
      --listen-peer-urls="http://127.0.0.1:${pp[$i]}" \
      --initial-advertise-peer-urls="http://127.0.0.1:${pp[$i]}" \
      --initial-cluster="$initial" --initial-cluster-state=new \
      --initial-cluster-token="hasync-bench-$$-${rd##*.}" \
      --heartbeat-interval=100 --election-timeout=500 \
      --logger=zap --log-level=warn --enable-v2=false >"$rd/etcd/m$i.log" 2>&1 &
    pid=$!
    disown "$pid"
    pids+=("$pid")
    eval "etcd_pid_$i=$pid"
  done
  from=$(date +%s)
  until ETCDCTL_API=3 etcdctl --dial-timeout=1s --command-timeout=1s --endpoints="$etcd_urls" \
    endpoint health >"$rd/etcd/health.log" 2>&1; do
    for i in 0 1 2; do
      eval "pid=\$etcd_pid_$i"
      started "$rd" "$pid" "etcd member m$i" "$rd/etcd/m$i.log"
      [ "$port_taken" = 0 ] || return 0
    done
    if [ "$(($(date +%s) - from))" -ge "$ETCD_WAIT_S" ]; then
      echo "bench/run.sh failover: etcd not healthy after ${ETCD_WAIT_S} s:" >&2
      cat "$rd/etcd/health.log" >&2
      for i in 0 1 2; do tail -5 "$rd/etcd/m$i.log" >&2; done
      exit 1
    fi
    sleep 0.1
  done
}

# lease_valid PORT: mdm-a's /status.json says etcd.lease_valid true.
lease_valid() {
  curl -s --max-time 1 "http://127.0.0.1:$1/status.json" 2>/dev/null |
    grep -q '"lease_valid" *: *true'
}

# run_once SETTINGS DEATH: one fresh pair (again with new ports, up to 5 times, if a port was
# taken meanwhile); sets `result` to the seconds from the death to the first request the load
# balancer answered from mdm-b. It runs in this shell, so that the processes it starts are in
# `pids` for the exit trap.
run_once() {
  local attempt
  for attempt in 1 2 3 4 5; do
    port_taken=0
    pair_run "$@"
    [ "$port_taken" = 1 ] || return 0
    echo "   (a port was taken before its daemon bound it: again with new ports)" >&2
    stop_all
  done
  echo "bench/run.sh failover: 5 attempts, a port taken every time" >&2
  exit 1
}

pair_run() {
  local settings="$1" death="$2" rd sa la sb lb front t0 t1 before interval_ms hp ep
  rd=$(mktemp -d "$dir/run.XXXXXX")
  if [ "$settings" = "${settings%-etcd}" ]; then
    read -r sa la sb lb front <<<"$(ports 5)"
  else
    read -r sa la sb lb front ep <<<"$(ports 11)"
    # shellcheck disable=SC2086  # the six etcd ports, one word each
    start_etcd "$rd" $ep
    [ "$port_taken" = 0 ] || return 0
  fi
  mkdir -p "$rd"/{a,b,a-state,b-state}
  for i in 1 2 3; do echo "setting $i" >"$rd/a/app-$i.conf"; done
  mkdir -p "$rd/a/certs" && head -c 65536 /dev/urandom >"$rd/a/certs/store.bin"
  config "$rd" a mdm-a primary "$settings" "$sa" "$la"
  config "$rd" b mdm-b secondary "$settings" "$sb" "$lb"
  touch "$rd/a-up" "$rd/b-up"
  "$H" sync --log-level warn --config "$rd/b.toml" --transport "$(to "$rd" a)" >"$rd/sync.log" 2>&1 ||
    { echo "bench/run.sh failover: the first sync failed:" >&2; cat "$rd/sync.log" >&2; exit 1; }
  wait_from=$(date +%s)
  start_daemon "$rd" a b "$sa"
  [ "$port_taken" = 0 ] || return 0
  start_daemon "$rd" b a "$sb"
  [ "$port_taken" = 0 ] || return 0
  haproxy_config "$rd" "$front" "$sa" "$la" "$sb" "$lb"
  haproxy -f "$rd/haproxy.cfg" -db >"$rd/haproxy.log" 2>&1 &
  hp=$!
  pids+=("$hp")
  disown "$hp"
  until [ "$(served_by "$rd" "$front")" = mdm-a ]; do
    started "$rd" "$hp" haproxy "$rd/haproxy.log"
    [ "$port_taken" = 0 ] || return 0
    waited "$rd" "answer from mdm-a through HAProxy" "$rd/a-daemon.log"
    sleep 0.05
  done
  if [ "$settings" != "${settings%-etcd}" ]; then
    until lease_valid "$sa"; do
      waited "$rd" "etcd.lease_valid on mdm-a's status page" "$rd/a-daemon.log"
      sleep 0.05
    done
  fi
  # Anchor on a fresh heartbeat, then a random phase of its period.
  before=$(alive_count "$rd")
  until [ "$(alive_count "$rd")" -gt "$before" ]; do
    waited "$rd" "fresh heartbeat on mdm-b" "$rd/b-daemon.log"
    sleep 0.05
  done
  interval_ms=10000
  [ "${settings%-etcd}" != fast ] || interval_ms=300
  sleep "$(awk -v ms="$((RANDOM * interval_ms / 32768))" 'BEGIN { printf "%.3f", ms / 1000 }')"

  : >"$rd/b-answers"
  kill_primary "$rd" "$death"
  t0=$(date +%s.%N)
  date -u -d "@$t0" '+%Y-%m-%dT%H:%M:%S.%3NZ the Primary died' >"$rd/death.log"  # beside the logs (--keep)
  wait_from=$(date +%s)
  polls=()
  until [ -s "$rd/b-answers" ]; do
    waited "$rd" "answer from mdm-b through HAProxy after the death" "$rd/b-daemon.log"
    poll "$rd" "$front" &
    polls+=("$!")
    sleep 0.05
  done
  t1=$(sort -n "$rd/b-answers" | head -1)
  wait "${polls[@]}" 2>/dev/null || true  # each ends within its 1 s
  stop_all
  [ "$keep" = 1 ] || rm -rf "$rd"
  result=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

settings_list="defaults fast"
[ "$etcd" = 0 ] || settings_list+=" defaults-etcd fast-etcd"
[ "$quick" = 0 ] || settings_list="fast"
[ "$quick" = 0 ] || [ "$etcd" = 0 ] || settings_list="fast-etcd"
declare -A label=([defaults]="defaults 10s/5s/3" [fast]="300ms/200ms/3"
  [defaults-etcd]="defaults, lease 30s" [fast-etcd]="300ms/200ms/3, lease 5s")
# runs_of SETTINGS: the defaults with etcd take about 40 s a run: once, unless --runs says.
runs_of() {
  if [ "$1" = defaults-etcd ] && [ "$runs_given" = 0 ]; then echo 1; else echo "$runs"; fi
}
declare -A death_label=([node]="node dies" [daemon]="daemon dies")
each="$runs run(s) each"
[ "$etcd" = 0 ] || [ "$(runs_of defaults-etcd)" = "$runs" ] || each+=", 1 with the defaults and etcd"
echo "== fail-over time: Primary's death to HAProxy's first answer from mdm-b ($each)"
rows=()
for s in $settings_list; do
  for d in node daemon; do
    times=()
    for r in $(seq "$(runs_of "$s")"); do
      run_once "$s" "$d"
      echo "   ${death_label[$d]}, $s, run $r: $result s"
      times+=("$result")
    done
    e=""
    [ "$etcd" = 0 ] || { e=no; [ "$s" = "${s%-etcd}" ] || e=yes; }
    rows+=("$(printf '%s\n' "${times[@]}" | sort -n | awk -v c="${death_label[$d]}" -v s="${label[$s]}" -v e="$e" '
      { v[++n] = $1 }
      END {
        med = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        if (e != "") s = sprintf("%-25s | %-4s", s, e)
        printf "%-12s | %-18s | %4d | %6.2f | %8.2f | %6.2f\n", c, s, n, v[1], med, v[n]
      }')")
  done
done
echo
echo "machine: $(nproc) cores, kernel $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "HAProxy checks every 200 ms, fall 2 rise 2: 0.2 to 0.4 s to drop the dead node, as long to take the promoted one"
if [ "$etcd" = 0 ]; then
  printf '%-12s | %-18s | %4s | %6s | %8s | %6s\n' case settings runs "min s" "median s" "max s"
else
  echo "etcd: three members on loopback, one cluster per run (heartbeat 100 ms, election 500 ms)"
  printf '%-12s | %-25s | %-4s | %4s | %6s | %8s | %6s\n' case settings etcd runs "min s" "median s" "max s"
fi
printf '%s\n' "${rows[@]}"
