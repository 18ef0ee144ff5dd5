// Reading and writing whole frames on a channel.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "transport/channel.h"
#include "transport/frame.h"

namespace hasync::transport {

// Reads one frame: header, validation, payload, decompression, checksum.
Result<Frame> ReadFrame(Channel& channel, FrameDecoder& decoder);

// Encodes and writes one frame. REQUIRES: payload.size() <= kMaxFramePayload.
Status WriteFrame(Channel& channel, FrameEncoder& encoder, uint8_t type,
                  std::span<const std::byte> payload);

}  // namespace hasync::transport
