// Google Benchmark kernels: block hashing, frame encode/decode, the block-delta plan, the rolling
// signature and delta of a shifted file.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <vector>

#include "common/hash.h"
#include "engine/files/delta.h"
#include "engine/files/plan.h"
#include "fuzz/delta_basis.h"
#include "transport/frame.h"

namespace hasync {
namespace {

std::vector<std::byte> Data(size_t n, bool compressible) {
  std::vector<std::byte> v(n);
  std::mt19937_64 rng(1);
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<std::byte>(compressible ? "ABCDEFGH"[(i / 13) % 8] : rng());
  }
  return v;
}

void BM_HashBlock(benchmark::State& state) {
  auto d = Data(static_cast<size_t>(state.range(0)), false);
  for (auto _ : state) benchmark::DoNotOptimize(Hash64(d));
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.SetLabel(HashKernelName());
}
BENCHMARK(BM_HashBlock)->Arg(64 << 10)->Arg(1 << 20);

void BM_FrameEncode(benchmark::State& state) {
  auto d = Data(1 << 20, state.range(0) == 1);
  transport::FrameEncoder enc({});
  std::vector<std::byte> out;
  for (auto _ : state) {
    out.clear();
    enc.Encode(8, d, out);
  }
  state.SetBytesProcessed(state.iterations() * (1 << 20));
  state.SetLabel(state.range(0) == 1 ? "compressible" : "random");
}
BENCHMARK(BM_FrameEncode)->Arg(0)->Arg(1);

void BM_FrameDecode(benchmark::State& state) {
  auto d = Data(1 << 20, state.range(0) == 1);
  transport::FrameEncoder enc({});
  std::vector<std::byte> wire;
  enc.Encode(8, d, wire);
  transport::FrameDecoder dec;
  auto h = transport::DecodeFrameHeader(std::span<const std::byte, transport::kFrameHeaderSize>(
      wire.data(), transport::kFrameHeaderSize));
  for (auto _ : state) {
    auto f = dec.Decode(*h, std::span(wire).subspan(transport::kFrameHeaderSize));
    benchmark::DoNotOptimize(f);
  }
  state.SetBytesProcessed(state.iterations() * (1 << 20));
}
BENCHMARK(BM_FrameDecode)->Arg(0)->Arg(1);

// "d" + std::to_string(n), built by appending: GCC 12 at -O3 reports a false -Wrestrict (an
// overlapping memcpy of 2^63 bytes) when inlining operator+(const char*, std::string&&), which
// prepends to the temporary in place (GCC bug 105329).
std::string Name(const char* prefix, int n) {
  std::string out = prefix;
  out += std::to_string(n);
  return out;
}

// Planning a no-change sync of 20,000 files: the cost the Secondary pays per file.
void BM_PlanNoChange(benchmark::State& state) {
  engine::RootPlan p;
  std::vector<snapshot::Entry> local;
  for (int i = 0; i < 20000; ++i) {
    std::string path = Name("d", i / 100);
    path += Name("/f", i);
    p.remote.push_back({.path = path,
                        .type = FileType::kRegular,
                        .mode = 0644,
                        .size = 4096,
                        .mtime_ns = i,
                        .hashed = true,
                        .digest = static_cast<uint64_t>(i)});
    snapshot::Entry e;  // the same file on the Secondary, hashed
    e.path = path;
    e.mode = 0644;
    e.size = 4096;
    e.mtime_ns = i;
    e.hashed = true;
    e.digest = static_cast<uint64_t>(i);
    local.push_back(std::move(e));
  }
  for (int d = 0; d < 200; ++d) {
    p.remote.push_back({.path = Name("d", d), .type = FileType::kDirectory, .mode = 0755});
    snapshot::Entry e;
    e.path = Name("d", d);
    e.type = FileType::kDirectory;
    e.mode = 0755;
    local.push_back(std::move(e));
  }
  std::sort(p.remote.begin(), p.remote.end(), [](auto& a, auto& b) { return a.path < b.path; });
  p.local = snapshot::Manifest(std::move(local));
  for (auto _ : state) {
    std::vector<engine::Action> out;
    engine::PlanRoot(0, p, {}, out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * 20200);
}
BENCHMARK(BM_PlanNoChange);

// A 64 MiB file (a delta range) and the same with ten 100-byte insertions, as bench/run.sh's
// insertions case has per range; the old one on disk for the signature.
struct Shifted {
  std::vector<std::byte> old_data = Data(64 << 20, false), new_data;
  std::string old_path;
  Shifted() {
    new_data = old_data;
    for (int i = 0; i < 10; ++i) {
      auto at = new_data.begin() + static_cast<ptrdiff_t>((i * 6 + 1) << 20);
      new_data.insert(at, 100, std::byte{'+'});
    }
    char tmpl[] = "/tmp/hasync-kernels.XXXXXX";
    int fd = ::mkstemp(tmpl);
    old_path = tmpl;
    if (fd < 0 ||
        ::write(fd, old_data.data(), old_data.size()) != static_cast<ssize_t>(old_data.size())) {
      std::abort();
    }
    ::close(fd);
  }
  ~Shifted() { std::remove(old_path.c_str()); }
};

// The Secondary's signature of its old 64 MiB file on one thread (the page cache warm).
void BM_RollingSignature(benchmark::State& state) {
  Shifted f;
  auto env = NewPosixEnv();
  for (auto _ : state) {
    auto sig = engine::ComputeSignature(*env, f.old_path, f.old_data.size(), 1);
    if (!sig.ok()) state.SkipWithError(sig.status().ToString().c_str());
    benchmark::DoNotOptimize(sig);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.old_data.size()));
}
BENCHMARK(BM_RollingSignature)->Unit(benchmark::kMillisecond);

// The Primary's delta of the shifted 64 MiB range against that signature, with the xxh3 block
// hashes it computes on the way.
void BM_RollingDelta(benchmark::State& state) {
  Shifted f;
  auto env = NewPosixEnv();
  auto sig = engine::ComputeSignature(*env, f.old_path, f.old_data.size(), 1);
  auto loaded = engine::LoadSignature(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(sig->data()), sig->size()));
  fuzz::MemoryFile file(f.new_data);  // the delta fuzzer's in-memory file
  std::vector<uint64_t> hashes(f.new_data.size() / snapshot::kBlockSize + 1);
  size_t delta_bytes = 0;
  for (auto _ : state) {
    auto d = engine::ComputeDelta(*loaded, file, 0, f.new_data.size(), 4 << 20, hashes.data());
    if (!d.ok() || !d->has_value()) state.SkipWithError("no delta");
    delta_bytes = d.ok() && d->has_value() ? (*d)->size() : 0;
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.new_data.size()));
  state.counters["delta_bytes"] = static_cast<double>(delta_bytes);
}
BENCHMARK(BM_RollingDelta)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hasync

BENCHMARK_MAIN();
