// Frame I/O over a channel.
#include "transport/frame_io.h"

namespace hasync::transport {

Result<Frame> ReadFrame(Channel& channel, FrameDecoder& decoder) {
  std::byte header[kFrameHeaderSize];
  HASYNC_RETURN_IF_ERROR(channel.ReadExact(header));
  HASYNC_ASSIGN_OR_RETURN(FrameHeader h,
                          DecodeFrameHeader(std::span<const std::byte, kFrameHeaderSize>(header)));
  std::vector<std::byte> wire(h.wire_length);
  HASYNC_RETURN_IF_ERROR(channel.ReadExact(wire));
  return decoder.Decode(h, wire);
}

Status WriteFrame(Channel& channel, FrameEncoder& encoder, uint8_t type,
                  std::span<const std::byte> payload) {
  std::vector<std::byte> out;
  encoder.Encode(type, payload, out);
  return channel.WriteAll(out);
}

}  // namespace hasync::transport
