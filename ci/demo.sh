#!/usr/bin/env bash
# The main job on the embedded default: a local Primary/Secondary pair on this machine. Builds
# hasync, makes a Primary tree with sample data, runs an initial sync, changes the Primary, runs
# an incremental sync, and shows what moved. Everything lives under ${DEMO_DIR:-/tmp/hasync-demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
[ -x build/release/engine/hasync ] || bash ci/build.sh release >/dev/null
H="$PWD/build/release/engine/hasync"
D="${DEMO_DIR:-/tmp/hasync-demo}"
rm -rf "$D"
mkdir -p "$D"/{primary,secondary,primary-state,secondary-state}
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
TOML
done
echo "== sample data on the Primary ($D/primary)"
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
echo "== the Primary changes: one block of the bundle, one config, one new file, one deleted"
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
if diff -r "$P" "$D/secondary" >/dev/null; then
  echo "== the Secondary is byte-identical to the Primary (diff -r, excluded *.tmp aside)"
else
  echo "== MISMATCH between $P and $D/secondary" >&2
  exit 1
fi

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
trap 'kill "$SSHD_PID" 2>/dev/null || true' EXIT
port=$SSHD_PORT
for n in a b; do
  cat >>"$D/$n.toml" <<TOML

[ssh]
port = $port
user = "root"
authorized_keys = "$D/authorized_keys"
TOML
done
echo "-- on mdm-a: hasync trust add 127.0.0.1 --key '<mdm-b's key>'"
"$H" --config "$D/a.toml" --log-level warn trust add 127.0.0.1 \
  --key "$("$H" --config "$D/b.toml" --log-level warn trust key)"
echo "-- on mdm-b: hasync trust add 127.0.0.1 --key '<mdm-a's key>', then trust test"
"$H" --config "$D/b.toml" --log-level warn trust add 127.0.0.1 \
  --key "$("$H" --config "$D/a.toml" --log-level warn trust key)"
"$H" --config "$D/b.toml" --log-level warn trust test 127.0.0.1 --accept-host-key
"$H" --config "$D/b.toml" --log-level warn trust list
echo "device-9 = retired" >>"$P/config/device-9.conf"
echo "-- hasync sync --host 127.0.0.1"
"$H" sync --config "$D/b.toml" --host 127.0.0.1 --log-level warn
if diff -r "$P" "$D/secondary" >/dev/null; then
  echo "== over ssh too, the Secondary is byte-identical to the Primary"
else
  echo "== MISMATCH after the sync over ssh" >&2
  exit 1
fi
