// PeerLink: sending, reading and expecting frames; the peer's error frames as Status, their text
// stripped of control characters (common/log.h Printable) before it reaches a log or a terminal.
#include "engine/wire/peer_link.h"

#include <string>

#include "common/log.h"

namespace hasync::engine {

Status PeerError(const transport::Frame& f, const char* peer_role) {
  auto m = DecodeError(f.payload);
  if (!m.ok()) return m.status();
  Code code = Code::kPeer;
  switch (static_cast<Code>(m->code)) {
#define HASYNC_X(name, value, text) \
  case Code::name:                  \
    code = Code::name;              \
    break;
    HASYNC_ERROR_CODES(HASYNC_X)
#undef HASYNC_X
  }
  if (code == Code::kOk) code = Code::kPeer;
  return Status(code, std::string("the ") + peer_role + " reported: " + Printable(m->message));
}

Status Unexpected(const transport::Frame& f, const char* wanted) {
  return Status(Code::kProtocol, std::string("expected ") + wanted + ", got " + MsgName(f.type));
}

void PeerLink::SendError(const Status& st) {
  ErrorMsg m{static_cast<uint32_t>(st.code()), st.message()};
  (void)Send(MsgType::kError, m);
}

Result<transport::Frame> PeerLink::Read() {
  HASYNC_ASSIGN_OR_RETURN(transport::Frame f, transport::ReadFrame(ch_, dec_));
  if (f.type == U8(MsgType::kError)) return PeerError(f, role_);
  return f;
}

Result<transport::Frame> PeerLink::Expect(MsgType type) {
  HASYNC_ASSIGN_OR_RETURN(transport::Frame f, Read());
  if (f.type != U8(type)) return Unexpected(f, MsgName(U8(type)));
  return f;
}

}  // namespace hasync::engine
