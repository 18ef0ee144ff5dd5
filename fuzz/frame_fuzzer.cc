// Fuzzes the frame decoder (transport/frame.h) with a peer's bytes: the first 24 are the header,
// the rest its wire payload, as transport/frame_io.cc hands them on. Any input must become a
// frame or an error, never a crash, a leak or an allocation past the frame limit.
#include <cstddef>
#include <cstdint>
#include <span>

#include "transport/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hasync::transport;
  if (size < kFrameHeaderSize) return 0;
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  auto header = DecodeFrameHeader(in.first<kFrameHeaderSize>());
  if (!header.ok()) return 0;
  static FrameDecoder decoder;  // one per thread, reused across frames as a channel does
  auto frame = decoder.Decode(*header, in.subspan(kFrameHeaderSize));
  if (frame.ok() && frame->payload.size() != header->raw_length) __builtin_trap();
  return 0;
}
