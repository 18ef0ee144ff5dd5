#!/usr/bin/env bash
# The test command (README): installs what it needs, builds from scratch, checks that every
# test is built, the size limits and formatting, runs the unit tests under ASan/UBSan and every tier on the release
# build, runs each fuzz target for 20 s (ci/fuzz.sh), builds and checks the .deb from a
# packager's plain build (ci/package.sh), then a short benchmark smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
bash ci/check-tests.sh
echo "== size limits (product sources: 800-line files, 120-line functions)"
bash ci/check-size.sh
echo "== clang-format"
find common transport snapshot engine verify bench tests fuzz \( -name '*.cc' -o -name '*.h' \) -print0 |
  xargs -0 clang-format --dry-run --Werror
echo "== asan-ubsan build: unit tests"
bash ci/build.sh asan-ubsan
(cd build/asan-ubsan && ctest -L unit --output-on-failure -j "$(nproc)" --timeout 300)
echo "== release build: every tier"
bash ci/build.sh release
(cd build/release && ctest --output-on-failure -j "$(nproc)" --timeout 900)
echo "== fuzz: every libFuzzer target for 20 s under ASan/UBSan (clang, build/fuzz)"
bash ci/fuzz.sh 20
echo "== package"
bash ci/package.sh
echo "== benchmark smoke run"
build/release/bench/hasync_kernels --benchmark_min_time=0.01 >/dev/null
# The end-to-end suite on a 1% scale tree: the script, rsync side by side, every copy checked.
# Short: ssh's control socket lives in the state folder, and a Unix socket's path holds 107 bytes.
bench_dir="$(mktemp -d /tmp/hb.XXXXXX)"
bench/run.sh files --scale 0.01 --dir "$bench_dir" | tail -8
# The same across a shaped link between two network namespaces, each side on its own core
# (bench/run_link.sh): lan (1 Gbit/s) and wan (100 Mbit/s, with rsync -z beside and the
# [sync] max_rate check, which fails the run outside 5% of 50 Mbit/s).
bench/run.sh files --link lan --scale 0.01 --dir "$bench_dir-lan" | tail -8
bench/run.sh files --link wan --scale 0.01 --dir "$bench_dir-wan" | tail -11
# The many-small-files tree (make_tree small), 2,000 files.
bench/run.sh files --tree small --files 2000 --dir "$bench_dir-small" | tail -7
# The database suite on a 1% scale database: every tool side by side, every copy compared.
bench/run.sh db --scale 0.01 --dir "$bench_dir-db" | tail -14
# The verify suite on both at 1% scale: hasync verify, rsync -a -c and a pg_dump comparison must
# each find the two sides equal.
bench/run.sh verify --scale 0.01 --dir "$bench_dir-verify" | tail -9
# The fail-over suite's fast cases once each (about 5 s, then about 15 s with etcd): a pair of
# daemons behind HAProxy (and a three-member etcd cluster), the Primary killed, timed until the
# load balancer answers from the promoted Secondary (which with etcd first wins the leader key
# after the Primary's lease expired).
bench/run.sh failover --quick --dir "$bench_dir-failover" | tail -5
bench/run.sh failover --quick --etcd --dir "$bench_dir-failover-etcd" | tail -6
echo "ci/test.sh: all passed"
