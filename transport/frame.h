// Frames: the unit of hasync's wire protocol (transport/FORMAT.md). A frame is a 24-byte header
// and a payload, zstd-compressed when that pays, checksummed with xxh3 over the raw payload.
// The decoder is strict: any header field out of its range, an oversized frame or a checksum
// mismatch is an error and the frame is never handed on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/status.h"
#include "transport/pace.h"

namespace hasync::transport {

constexpr uint16_t kFrameMagic = 0x4853;  // "SH" little-endian: 'H' 'S' on the wire
constexpr uint8_t kFrameVersion = 1;
constexpr size_t kFrameHeaderSize = 24;
// Hard limit on a frame's raw payload; senders split larger data.
constexpr uint32_t kMaxFramePayload = 8u << 20;
constexpr uint8_t kFlagCompressed = 0x01;

struct FrameHeader {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t wire_length = 0;
  uint32_t raw_length = 0;
  uint64_t checksum = 0;
};

struct Frame {
  uint8_t type = 0;
  std::vector<std::byte> payload;  // raw (decompressed)
  uint32_t wire_bytes = 0;         // header + payload as it travelled
};

// How a sender compresses: kOff never; kAuto zstd level 1 when it pays: it skips attempts for a
// while after a payload did not shrink (incompressible data is sent raw and costs no more CPU
// than a probe), and, given the channel's pace, sends raw while the channel drains faster than
// compression would gain (saving x compressor speed), as on a local pipe or a fast LAN; it
// probes again now and then, so a slower link turns compression back on.
struct CompressionOptions {
  enum class Mode { kOff, kAuto, kLevel };
  Mode mode = Mode::kAuto;
  int level = 1;
};

// Per-thread encoder state: a zstd context and the incompressible back-off.
// Thread safety: one FrameEncoder per thread.
class FrameEncoder {
 public:
  explicit FrameEncoder(CompressionOptions options);
  ~FrameEncoder();
  FrameEncoder(const FrameEncoder&) = delete;
  FrameEncoder& operator=(const FrameEncoder&) = delete;
  // Appends header + payload (compressed or raw) to out.
  // REQUIRES: payload.size() <= kMaxFramePayload.
  void Encode(uint8_t type, std::span<const std::byte> payload, std::vector<std::byte>& out);

  // kAuto: weigh compression against this channel's pace (not owned; null: no pacing).
  void SetPace(const ChannelPace* pace) { pace_ = pace; }

 private:
  // kAuto with a known pace: true while raw frames reach the peer sooner than compressed ones.
  bool RawIsFaster();

  CompressionOptions options_;
  void* cctx_ = nullptr;  // ZSTD_CCtx
  int skip_ = 0;          // frames left before trying compression again
  const ChannelPace* pace_ = nullptr;
  double compress_bytes_per_ns_ = 0;  // EWMA of zstd's speed on this sender's data
  double saving_ = 0;                 // EWMA of the share compression removed
  int paced_raw_ = 0;                 // raw frames sent on the pace's advice since the last probe
};

// Parses and validates a header.
Result<FrameHeader> DecodeFrameHeader(std::span<const std::byte, kFrameHeaderSize> bytes);

// Per-thread decoder state (a zstd context).
class FrameDecoder {
 public:
  FrameDecoder();
  ~FrameDecoder();
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;
  // Turns a validated header and its wire payload into a frame; checks size and checksum.
  Result<Frame> Decode(const FrameHeader& header, std::span<const std::byte> wire);

 private:
  void* dctx_ = nullptr;  // ZSTD_DCtx
};

uint64_t FrameChecksum(uint8_t type, std::span<const std::byte> raw);

}  // namespace hasync::transport
