# shellcheck shell=bash
# Sourced by bench/run.sh for `files --link lan|wan`: two "servers" on this machine. The
# Primary and the Secondary each get a network namespace of the benchmark's own making
# (hasync-bench-p-PID, hasync-bench-s-PID), joined by a veth pair addressed from 198.18.0.0/15,
# the benchmarking range (198.18.0.1/30 the Primary, 198.18.0.2/30 the Secondary; nothing is
# routed, so no traffic leaves the machine). Both veth ends' egress is shaped with tc tbf (this
# kernel has tbf and htb but no netem), so each direction is its own link:
#   lan: 1 Gbit/s, burst 128 KiB (about 1 ms at the rate, two 64 KiB GSO packets), latency 10 ms
#        (the queue a packet may wait in before tbf drops it: 1.25 MB);
#   wan: 100 Mbit/s, burst 64 KiB (one GSO packet, 5 ms at the rate), latency 50 ms (625 KB of
#        queue, a router's buffer on a long path).
# tbf's burst must hold the largest packet the stack hands it (veth passes 64 KiB GSO packets),
# or those packets are dropped. Pinned (the default): the Primary's sshd and all it starts run
# on core 0, the Secondary's sync or rsync and its ssh on core 1 (taskset); --unpinned lets both
# use every core, as several connections or threads would.
#
#   link_up lan|wan PINNED: sets LINK_P, LINK_S (namespace names), LINK_HOST (the Primary's
#     address), P_EXEC and S_EXEC (arrays: the command prefix that runs a command on that side).
#   link_down: deletes both namespaces (which deletes the veth pair); safe to call twice.
LINK_P=""
LINK_S=""
LINK_HOST=198.18.0.1  # read by bench/run.sh
export LINK_HOST

link_up() {
  local kind="$1" pinned="$2" rate burst latency
  case "$kind" in
    lan) rate=1gbit burst=128kb latency=10ms ;;
    wan) rate=100mbit burst=64kb latency=50ms ;;
    *) echo "bench/run.sh: --link takes lan or wan, not $kind" >&2; return 2 ;;
  esac
  command -v ip >/dev/null && command -v tc >/dev/null && command -v taskset >/dev/null || {
    echo "bench/run.sh: --link needs ip, tc and taskset (iproute2, util-linux)" >&2
    return 1
  }
  LINK_P="hasync-bench-p-$$"
  LINK_S="hasync-bench-s-$$"
  local vp="hbp$$" vs="hbs$$"  # interface names: at most 15 characters
  ip netns add "$LINK_P"
  ip netns add "$LINK_S"
  ip link add "$vp" type veth peer name "$vs"
  ip link set "$vp" netns "$LINK_P"
  ip link set "$vs" netns "$LINK_S"
  ip -n "$LINK_P" addr add 198.18.0.1/30 dev "$vp"
  ip -n "$LINK_S" addr add 198.18.0.2/30 dev "$vs"
  for ns in "$LINK_P" "$LINK_S"; do ip -n "$ns" link set lo up; done
  ip -n "$LINK_P" link set "$vp" up
  ip -n "$LINK_S" link set "$vs" up
  ip netns exec "$LINK_P" tc qdisc add dev "$vp" root tbf rate "$rate" burst "$burst" latency "$latency"
  ip netns exec "$LINK_S" tc qdisc add dev "$vs" root tbf rate "$rate" burst "$burst" latency "$latency"
  P_EXEC=(ip netns exec "$LINK_P")
  S_EXEC=(ip netns exec "$LINK_S")
  if [ "$pinned" = 1 ]; then
    P_EXEC+=(taskset -c 0)
    S_EXEC+=(taskset -c 1)
  fi
  echo "== link $kind: $rate each way (tbf burst $burst, latency $latency), Primary 198.18.0.1 in $LINK_P, Secondary 198.18.0.2 in $LINK_S; $([ "$pinned" = 1 ] && echo "pinned: Primary core 0, Secondary core 1" || echo unpinned)"
}

link_down() {
  local ns
  for ns in "$LINK_S" "$LINK_P"; do
    [ -z "$ns" ] || ip netns del "$ns" 2>/dev/null || true
  done
  LINK_P=""
  LINK_S=""
}

# link_primary_cpu SSHD_PID: the CPU seconds (user+system) of the sshd's reaped children so far:
# every session it ran on the Primary, with what those started (hasync serve, rsync).
link_primary_cpu() {
  local tck
  tck=$(getconf CLK_TCK)
  # Fields 16 and 17 of /proc/PID/stat (after the parenthesised name): cutime, cstime.
  awk -v t="$tck" '{ sub(/^.*\) /, ""); print ($14 + $15) / t }' "/proc/$1/stat"
}

# link_wait_sessions SSHD_PID: waits (up to 3 s) until the sshd has reaped its sessions, so
# their CPU time is counted.
link_wait_sessions() {
  for _ in $(seq 30); do
    [ -z "$(pgrep -P "$1" 2>/dev/null)" ] && return 0
    sleep 0.1
  done
}
