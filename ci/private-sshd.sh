# Sourced by ci/demo.sh and bench/run.sh: a private OpenSSH sshd for this machine's pair, on a
# free loopback port with its own host key and config (the system's sshd, if any, is left
# alone). It logs in as root, so callers run as root.
#
#   start_private_sshd DIR AUTHORIZED_KEYS_FILE...
#
# writes DIR/sshd_config and DIR/sshd_host_key, starts sshd in the background (log in
# DIR/sshd.log), waits until it accepts connections and sets SSHD_PORT and SSHD_PID. The caller
# stops it (kill "$SSHD_PID").
#
# bench/run.sh --link: SSHD_ADDR (default 127.0.0.1) is the address to listen on, and the array
# SSHD_EXEC (default empty) a command prefix sshd runs under and the port is probed from, e.g.
# (ip netns exec NS taskset -c 0): the address then lives in that namespace. The prefix must
# exec its command (ip netns exec and taskset do), so SSHD_PID is sshd's own.
# free_loopback_port LOW SPAN: prints a port in [LOW, LOW+SPAN) nobody listens on (also used by
# ci/pg-cluster.sh).
free_loopback_port() {
  local p
  for _ in $(seq 20); do
    p=$(($1 + RANDOM % $2))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

start_private_sshd() {
  local dir="$1" addr="${SSHD_ADDR:-127.0.0.1}"
  shift
  local pre=()
  [ -z "${SSHD_EXEC+x}" ] || pre=("${SSHD_EXEC[@]}")
  if [ "${#pre[@]}" -gt 0 ]; then
    SSHD_PORT=$((30000 + RANDOM % 20000))  # a namespace of the caller's own: every port is free
  else
    SSHD_PORT=$(free_loopback_port 30000 20000) ||
      { echo "private sshd: no free loopback port" >&2; return 1; }
  fi
  ssh-keygen -q -t ed25519 -N '' -f "$dir/sshd_host_key" <<<y >/dev/null
  cat >"$dir/sshd_config" <<CFG
Port $SSHD_PORT
ListenAddress $addr
HostKey $dir/sshd_host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $*
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
LogLevel ERROR
CFG
  mkdir -p /run/sshd  # its privilege-separation folder
  "${pre[@]}" /usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
  SSHD_PID=$!
  for _ in $(seq 50); do
    "${pre[@]}" bash -c "exec 3<>/dev/tcp/$addr/$SSHD_PORT" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "private sshd did not start:" >&2
  cat "$dir/sshd.log" >&2
  return 1
}
