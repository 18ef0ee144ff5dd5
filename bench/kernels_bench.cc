// Google Benchmark kernels: block hashing, frame encode/decode, the block-delta plan.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "common/hash.h"
#include "engine/files/plan.h"
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

}  // namespace
}  // namespace hasync

BENCHMARK_MAIN();
