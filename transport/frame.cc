// Frame encoding and strict decoding; the one adapter for zstd's error codes.
#include "transport/frame.h"

#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "common/hash.h"

namespace hasync::transport {
namespace {

void PutLe(std::byte* p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
uint64_t GetLe(const std::byte* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

// Back-off after a payload that did not shrink by this share: incompressible data (media,
// archives, already-compressed packages) is common in application trees.
constexpr double kMinSaving = 0.05;
constexpr int kSkipAfterIncompressible = 16;
// With a pace: re-measure compression every this many frames sent raw on its advice.
constexpr int kProbeEvery = 32;
constexpr double kWeight = 0.25;

}  // namespace

uint64_t FrameChecksum(uint8_t type, std::span<const std::byte> raw) {
  return Hash64(raw, (uint64_t{kFrameVersion} << 8 | type) ^ (uint64_t{raw.size()} << 16));
}

FrameEncoder::FrameEncoder(CompressionOptions options) : options_(options) {
  if (options_.mode != CompressionOptions::Mode::kOff) cctx_ = ZSTD_createCCtx();
}

FrameEncoder::~FrameEncoder() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_)); }

void FrameEncoder::Encode(uint8_t type, std::span<const std::byte> payload,
                          std::vector<std::byte>& out) {
  size_t header_at = out.size();
  out.resize(header_at + kFrameHeaderSize);
  uint8_t flags = 0;
  size_t wire = payload.size();
  bool try_compress = cctx_ != nullptr && payload.size() >= 256;
  bool auto_mode = options_.mode == CompressionOptions::Mode::kAuto;
  if (try_compress && auto_mode && skip_ > 0) {
    --skip_;
    try_compress = false;
  }
  if (try_compress && auto_mode && RawIsFaster()) try_compress = false;
  if (try_compress) {
    size_t bound = ZSTD_compressBound(payload.size());
    out.resize(header_at + kFrameHeaderSize + bound);
    int level = auto_mode ? 1 : options_.level;
    auto start = std::chrono::steady_clock::now();
    size_t n =
        ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(cctx_), out.data() + header_at + kFrameHeaderSize,
                          bound, payload.data(), payload.size(), level);
    if (auto_mode && !ZSTD_isError(n) && payload.size() >= (64 << 10)) {
      double ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now() - start)
                                          .count());
      double rate = static_cast<double>(payload.size()) / std::max(ns, 1.0);
      double saved = 1.0 - static_cast<double>(n) / static_cast<double>(payload.size());
      bool first = compress_bytes_per_ns_ == 0;
      compress_bytes_per_ns_ =
          first ? rate : compress_bytes_per_ns_ * (1 - kWeight) + rate * kWeight;
      saving_ = first ? saved : saving_ * (1 - kWeight) + saved * kWeight;
    }
    if (!ZSTD_isError(n) && n < payload.size() * (1.0 - kMinSaving)) {
      flags = kFlagCompressed;
      wire = n;
    } else {
      skip_ = kSkipAfterIncompressible;
    }
  }
  out.resize(header_at + kFrameHeaderSize + wire);
  std::byte* h = out.data() + header_at;
  // An empty payload may have no buffer at all (data() null): memcpy must not see it.
  if (flags == 0 && !payload.empty())
    std::memcpy(h + kFrameHeaderSize, payload.data(), payload.size());
  PutLe(h + 0, kFrameMagic, 2);
  PutLe(h + 2, kFrameVersion, 1);
  PutLe(h + 3, type, 1);
  PutLe(h + 4, flags, 1);
  PutLe(h + 5, 0, 3);
  PutLe(h + 8, wire, 4);
  PutLe(h + 12, payload.size(), 4);
  PutLe(h + 16, FrameChecksum(type, payload), 8);
}

bool FrameEncoder::RawIsFaster() {
  if (pace_ == nullptr || compress_bytes_per_ns_ == 0) return false;
  double channel = pace_->BytesPerNs();
  if (channel == 0) return false;
  // Per raw byte, compressing costs 1/compress and saves saving/channel of channel time.
  if (saving_ * compress_bytes_per_ns_ >= channel) {
    paced_raw_ = 0;
    return false;
  }
  if (++paced_raw_ >= kProbeEvery) {
    paced_raw_ = 0;
    return false;  // probe: the data or the link may have changed
  }
  return true;
}

Result<FrameHeader> DecodeFrameHeader(std::span<const std::byte, kFrameHeaderSize> b) {
  if (GetLe(b.data(), 2) != kFrameMagic) {
    return Status(Code::kProtocol, "not a hasync frame (bad magic): is the peer hasync serve?");
  }
  uint64_t version = GetLe(b.data() + 2, 1);
  if (version != kFrameVersion) {
    return Status(Code::kVersion, "frame format version " + std::to_string(version) +
                                      " from the peer, this side speaks " +
                                      std::to_string(kFrameVersion));
  }
  FrameHeader h;
  h.type = static_cast<uint8_t>(GetLe(b.data() + 3, 1));
  h.flags = static_cast<uint8_t>(GetLe(b.data() + 4, 1));
  if ((h.flags & ~kFlagCompressed) != 0 || GetLe(b.data() + 5, 3) != 0) {
    return Status(Code::kProtocol, "frame has unknown flags or non-zero reserved bytes");
  }
  h.wire_length = static_cast<uint32_t>(GetLe(b.data() + 8, 4));
  h.raw_length = static_cast<uint32_t>(GetLe(b.data() + 12, 4));
  h.checksum = GetLe(b.data() + 16, 8);
  if (h.raw_length > kMaxFramePayload) {
    return Status(Code::kProtocol, "frame of " + std::to_string(h.raw_length) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(kMaxFramePayload));
  }
  bool compressed = h.flags & kFlagCompressed;
  if (!compressed && h.wire_length != h.raw_length) {
    return Status(Code::kProtocol, "uncompressed frame whose wire and raw lengths differ");
  }
  if (compressed && h.wire_length > ZSTD_compressBound(h.raw_length)) {
    return Status(Code::kProtocol, "compressed frame larger than its bound");
  }
  return h;
}

FrameDecoder::FrameDecoder() : dctx_(ZSTD_createDCtx()) {}
FrameDecoder::~FrameDecoder() { ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_)); }

Result<Frame> FrameDecoder::Decode(const FrameHeader& h, std::span<const std::byte> wire) {
  if (wire.size() != h.wire_length) return Status(Code::kProtocol, "frame payload length mismatch");
  Frame f;
  f.type = h.type;
  f.wire_bytes = static_cast<uint32_t>(kFrameHeaderSize + wire.size());
  if (h.flags & kFlagCompressed) {
    f.payload.resize(h.raw_length);
    size_t n = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(dctx_), f.payload.data(),
                                   f.payload.size(), wire.data(), wire.size());
    if (ZSTD_isError(n)) {
      return Status(Code::kProtocol,
                    std::string("frame does not decompress: ") + ZSTD_getErrorName(n));
    }
    if (n != h.raw_length) return Status(Code::kProtocol, "frame decompressed to the wrong size");
  } else {
    f.payload.assign(wire.begin(), wire.end());
  }
  if (FrameChecksum(f.type, f.payload) != h.checksum) {
    return Status(Code::kChecksum, "frame checksum mismatch (data corrupted in transit)");
  }
  return f;
}

}  // namespace hasync::transport
