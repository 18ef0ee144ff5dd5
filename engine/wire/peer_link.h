// One end of a sync's conversation: the channel to the peer and this side's frame codec, with
// the three things every session does with them: send a message, read the next frame (a peer's
// error frame becomes its Status), and expect a frame of one type. Sessions, the database
// parts and the verify session all talk through it, so "expected X, got Y" and the peer's
// error codes read the same everywhere.
#pragma once

#include <cstdint>
#include <span>

#include "common/binary.h"
#include "common/status.h"
#include "engine/wire/protocol.h"
#include "transport/channel.h"
#include "transport/frame.h"
#include "transport/frame_io.h"

namespace hasync::engine {

// Encodes m and writes it as one frame with enc (for threads with their own encoder).
template <typename Msg>
Status SendMsg(transport::Channel& ch, transport::FrameEncoder& enc, MsgType type, const Msg& m) {
  Encoder e;
  Encode(m, e);
  return transport::WriteFrame(ch, enc, U8(type), e.view());
}

// Turns a kError frame from the peer into a Status with the peer's code (kPeer for a code
// outside the table).
Status PeerError(const transport::Frame& f, const char* peer_role);
// "expected <wanted>, got <f's type>" as a protocol error.
Status Unexpected(const transport::Frame& f, const char* wanted);

// Not thread-safe: one thread at a time sends and reads through it. (The serve side's workers
// encode with encoders of their own and write to the channel under the session's lock.)
class PeerLink {
 public:
  // peer_role names the peer in errors: "Primary", "Secondary", "peer".
  PeerLink(transport::Channel& ch, const char* peer_role,
           transport::CompressionOptions compression = {})
      : ch_(ch), role_(peer_role), enc_(compression) {}

  template <typename Msg>
  Status Send(MsgType type, const Msg& m) {
    return SendMsg(ch_, enc_, type, m);
  }
  Status SendRaw(MsgType type, std::span<const std::byte> payload) {
    return transport::WriteFrame(ch_, enc_, U8(type), payload);
  }
  // Best effort: the channel may already be gone.
  void SendError(const Status& st);

  // The next frame; the peer's error frame is returned as its Status.
  Result<transport::Frame> Read();
  // The next frame, which must be of `type`.
  Result<transport::Frame> Expect(MsgType type);

  transport::Channel& channel() { return ch_; }
  transport::FrameEncoder& encoder() { return enc_; }
  transport::FrameDecoder& decoder() { return dec_; }
  const char* peer_role() const { return role_; }

 private:
  transport::Channel& ch_;
  const char* role_;
  transport::FrameEncoder enc_;
  transport::FrameDecoder dec_;
};

}  // namespace hasync::engine
