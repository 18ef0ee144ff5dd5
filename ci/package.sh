#!/usr/bin/env bash
# The packager's build, checked end to end: a plain Release configure as Debian's packagers run
# it (no preset: -O3, warnings not fatal, prefix /usr) into build/package; `cmake --install`
# into a scratch prefix and a DESTDIR, each tree checked; `cpack -G DEB`, the .deb's fields and
# files checked; then the .deb installed with dpkg, its binary run, and purged again.
#
# Tests and the benchmarks are off here (HASYNC_BUILD_TESTS=OFF, HASYNC_BUILD_BENCH=OFF): the
# preset builds before this in ci/test.sh have built and run every tier, and this build only
# needs what is packaged, which keeps it to about half a full build.
#
# It installs a package on this machine, so it needs root, and it refuses to run when a package
# named hasync (or a file at one of its paths) is already there: that one is not its to replace
# or purge. Whatever fails, the package it installed is purged and its scratch folders removed.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0
fail() {
  echo "ci/package.sh: FAILED: $*" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || fail "needs root (it installs and purges the .deb with dpkg)"
bash ci/install-deps.sh

# Paths the package installs (under /usr): none may be there before, or the purge at the end
# would take away something this script did not put there.
owned=(/usr/bin/hasync /usr/bin/failover /usr/lib/systemd/system/hasync.service
  /usr/share/doc/hasync)
state=$(dpkg-query -W -f='${db:Status-Status}' hasync 2>/dev/null || true)
if [ -n "$state" ] && [ "$state" != not-installed ]; then
  fail "a package named hasync is already on this machine (dpkg state: $state) and this script" \
    "did not install it; remove it first (dpkg --purge hasync) or run this elsewhere"
fi
for p in "${owned[@]}"; do
  if [ -e "$p" ] || [ -L "$p" ]; then
    fail "$p already exists and no hasync package owns it; this script would overwrite and then" \
      "delete it; move it away first"
  fi
done

work=$(mktemp -d /tmp/hasync-package.XXXXXX)
installed=0
cleanup() {
  if [ "$installed" = 1 ]; then
    dpkg --purge hasync >/dev/null 2>&1 || echo "ci/package.sh: could not purge hasync" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT  # so that an interrupted or killed run cleans up too
trap 'exit 143' TERM

b=build/package
echo "-- plain Release build (no preset, prefix /usr, tests and benchmarks off)"
build_start=$SECONDS
rm -rf "$b"
cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DHASYNC_BUILD_TESTS=OFF -DHASYNC_BUILD_BENCH=OFF >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; fail "configure"; }
grep -q '^HASYNC_WERROR:BOOL=OFF$' "$b/CMakeCache.txt" || fail "a plain build has -Werror"
cmake --build "$b" -j "$(nproc)" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; fail "build"; }
# Warnings are not fatal in a packager's build; they are counted, by kind, so they stay visible.
warnings=$(grep -c 'warning:' "$work/build.log" || true)
kinds=$(grep -o 'warning: .*\[-W[a-zA-Z0-9=-]*\]$' "$work/build.log" | grep -o '\[-W.*\]$' |
  sort | uniq -c | awk '{printf "%s %s x%s", (NR > 1 ? "," : ""), $2, $1}' || true)
echo "   built in $((SECONDS - build_start))s;" \
  "$warnings compiler warnings (not fatal)${kinds:+:$kinds}"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$b/CMakeCache.txt")
[ -n "$version" ] || fail "no project version in $b/CMakeCache.txt"

# check_tree ROOT BINDIR: the tree installed at prefix ROOT holds the binary, the link, the unit
# starting BINDIR/hasync (where the binary will run from), the sample, every doc, and nothing
# else.
check_tree() {
  local root="$1" bindir="$2" f
  [ -x "$root/bin/hasync" ] && [ -f "$root/bin/hasync" ] || fail "$root: no bin/hasync"
  [ -L "$root/bin/failover" ] && [ "$(readlink "$root/bin/failover")" = hasync ] ||
    fail "$root: bin/failover is not a relative link to hasync"
  local unit="$root/lib/systemd/system/hasync.service"
  grep -qx "ExecStart=$bindir/hasync daemon --config /etc/hasync/hasync.toml" "$unit" ||
    fail "$unit does not start $bindir/hasync: $(grep ExecStart "$unit" || echo 'no ExecStart')"
  ! grep -q '@[A-Z_]*@' "$unit" || fail "$unit has unreplaced @VARIABLES@"
  local doc="$root/share/doc/hasync"
  [ -f "$doc/examples/hasync.toml" ] || fail "$root: no share/doc/hasync/examples/hasync.toml"
  "$root/bin/hasync" config show --config "$doc/examples/hasync.toml" >/dev/null ||
    fail "the installed sample settings do not parse"
  [ -f "$doc/README.md" ] || fail "$root: no share/doc/hasync/README.md"
  while IFS= read -r f; do
    [ -f "$doc/$f" ] || fail "$root: $f is not installed in share/doc/hasync"
  done < <(find common transport snapshot verify engine -path '*/build*' -prune -o \
    \( -name README.md -o -name FORMAT.md \) -print)
  if [ -d docs ]; then
    while IFS= read -r f; do
      [ -f "$doc/$f" ] || fail "$root: $f is not installed in share/doc/hasync"
    done < <(find docs -type f)
  fi
  local allowed='bin/(hasync|failover)|lib/systemd/system/hasync\.service'
  allowed+='|share/doc/hasync/(examples/hasync\.toml|.*\.md|docs/.*)'
  local extra
  extra=$(cd "$root" && find . ! -type d | sed 's|^\./||' | grep -vxE "$allowed" || true)
  [ -z "$extra" ] || fail "$root: installed, and not meant to be: $extra"
}

echo "-- cmake --install --prefix, and DESTDIR staging"
cmake --install "$b" --prefix "$work/prefix" >/dev/null
# The unit is generated at install time from the prefix in use (cmake/install.cmake).
check_tree "$work/prefix" "$work/prefix/bin"
DESTDIR="$work/staged" cmake --install "$b" >/dev/null
[ "$(ls "$work/staged")" = usr ] || fail "DESTDIR staging wrote outside DESTDIR/usr"
check_tree "$work/staged/usr" /usr/bin

echo "-- cpack -G DEB"
rm -f "$b"/hasync_*.deb
(cd "$b" && cpack -G DEB >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log" >&2; fail "cpack"; }
debs=("$b"/hasync_*.deb)
[ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] || fail "cpack made no single hasync_*.deb"
deb="${debs[0]}"
info=$(dpkg-deb --info "$deb")
contents=$(dpkg-deb --contents "$deb")
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = hasync ] || fail "Package is $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version is $(field Version), the project's $version"
[ "$(field Section)" = admin ] || fail "Section is $(field Section)"
[ -n "$(field Maintainer)" ] || fail "no Maintainer"
[ -n "$(field Description)" ] || fail "no Description"
depends=$(field Depends)
# The names alone: "libpq5 (>= 14~~), libzstd1 (>= 1.5.2)" -> libpq5 libzstd1.
names=" $(sed -E 's/ *\([^)]*\)//g; s/ *, */ /g' <<<"$depends") "
# openssh-client and postgresql-client-15 by hand (cmake/package.cmake), the libraries from
# dpkg-shlibdeps: every one the binary links directly.
for p in openssh-client postgresql-client-15 libpq5 libzstd1 liburing2 libsqlite3-0 \
  libcurl4 libssl3; do
  [[ "$names" == *" $p "* ]] || fail "Depends lacks $p: $depends"
done
for f in './usr/bin/hasync' './usr/bin/failover -> hasync' \
  './usr/lib/systemd/system/hasync.service' './usr/share/doc/hasync/examples/hasync.toml' \
  './usr/share/doc/hasync/README.md' './usr/share/doc/hasync/engine/README.md'; do
  grep -qE " ${f//./\\.}$" <<<"$contents" || fail "the .deb lacks $f"
done
# Nothing more nor less than the DESTDIR install above (checked by check_tree) is in the .deb.
diff <(awk '{print $6}' <<<"$contents" | grep -v '/$' | sed 's|^\./||' | sort) \
  <(cd "$work/staged" && find . ! -type d | sed 's|^\./||' | sort) >"$work/diff" ||
  { cat "$work/diff" >&2; fail "the .deb's files (<) differ from the DESTDIR install's (>)"; }
size=$(sed -n 's/^ size \([0-9]*\) bytes.*/\1/p' <<<"$info")
echo "   $(basename "$deb"): $(wc -l <<<"$contents") entries, $size bytes"
echo "   Depends: $depends"

echo "-- dpkg -i, run, dpkg --purge"
installed=1
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
out=$(/usr/bin/hasync version) || fail "/usr/bin/hasync version exited $?"
[[ "$out" == "hasync $version "* ]] || fail "/usr/bin/hasync version printed: $out"
echo "   $out"
help=$(/usr/bin/failover --help) || fail "/usr/bin/failover --help exited $?"
[[ "$help" == *"Usage: /usr/bin/failover"* && "$help" == *mode* ]] ||
  fail "/usr/bin/failover --help printed: $help"
grep -qx 'ExecStart=/usr/bin/hasync daemon --config /etc/hasync/hasync.toml' \
  /usr/lib/systemd/system/hasync.service ||
  fail "the installed unit does not start /usr/bin/hasync:" \
    "$(grep ExecStart /usr/lib/systemd/system/hasync.service)"
/usr/bin/hasync config show --config /usr/share/doc/hasync/examples/hasync.toml >/dev/null ||
  fail "the packaged sample settings do not parse"
dpkg --purge hasync >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg --purge"; }
installed=0
for p in "${owned[@]}"; do
  if [ -e "$p" ] || [ -L "$p" ]; then fail "$p is still there after dpkg --purge"; fi
done
state=$(dpkg-query -W -f='${db:Status-Status}' hasync 2>/dev/null || true)
[ -z "$state" ] || [ "$state" = not-installed ] || fail "hasync is $state after dpkg --purge"
echo "ci/package.sh: all passed in ${SECONDS}s"
