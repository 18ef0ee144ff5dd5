#!/usr/bin/env bash
# Installs everything hasync needs to build, test and benchmark, from Debian's packages only.
# Idempotent: packages already present are left alone. Needs root (CI and the dev machines
# run as root); elsewhere it uses sudo when available.
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config clang-format
  # ci/check-size.sh: Universal Ctags gives each function's first and last line (STYLE.md rule 8).
  universal-ctags
  # Libraries the design names (README.md says why each is there).
  liburing-dev libzstd-dev libxxhash-dev libssl-dev
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # PostgreSQL: libpq for the engine; the server, pg_dump and pgbench for the tests, the demo and
  # the benchmark (clusters made with initdb on loopback ports: no system cluster is started).
  libpq-dev postgresql-15
  # SQLite: the node's own state (mode, generation, history, events).
  libsqlite3-dev
  # libsystemd: sd_notify for the daemon's Type=notify unit and its watchdog.
  libsystemd-dev
  # etcd (server and etcdctl): the coordination engine [failover] etcd can name; the fail-over
  # tests start their own three-member cluster on loopback ports (no system etcd is started).
  etcd-server etcd-client
  # The status pages (cpp-httplib, built with OpenSSL for HTTPS) and email notifications
  # (libcurl's SMTP); HAProxy is the load balancer the fail-over tests put in front of a pair.
  libcpp-httplib-dev libcurl4-openssl-dev haproxy
  # The demo reads the status pages with curl; the tests make a certificate with openssl.
  curl openssl
  # Peers for the end-to-end benchmark and the demo; the tests' private sshd (its own config
  # on a loopback port: the system's sshd is not started, see below).
  rsync openssh-client openssh-server time
  # tests/integration/fidelity_test.cc sets and reads attributes and ACLs with these tools.
  attr acl
  # The .deb (ci/package.sh): CPack's DEB generator runs dpkg-shlibdeps (dpkg-dev) on the binary,
  # and finds the binaries to read with file.
  dpkg-dev file
  # ci/fuzz.sh: libFuzzer with ASan and UBSan comes with clang (clang-14's runtime libraries).
  clang libclang-rt-14-dev
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Installing openssh-server, postgresql or haproxy must not start a system sshd or cluster: the tests
# start their own on loopback. policy-rc.d (Debian's switch for this) refuses service
# starts during the install, and only if none was there already.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  added_policy=1
fi
status=0
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
[ "$added_policy" = 0 ] || $sudo rm -f "$policy"
exit "$status"
