// Test double for fault injection: a Secondary that passes the version gate and then asks the
// Primary's serve side for too much, built from the project's own encoders.
// Usage: hostile_secondary MODE 'SERVE COMMAND'. Modes: repeat-request (asks for the listed file
// `big.img` 20 times in one batch, each whole). It reads the answer until the serve side's error
// frame (or 256 data frames) and prints two lines: "error <code> <message>" (or "no error"), and
// "maxrss_kb <n>": the serve side's peak resident memory (getrusage of the reaped children).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "engine/wire/protocol.h"
#include "transport/channel.h"
#include "transport/frame_io.h"

using namespace hasync;
using namespace hasync::engine;

namespace {

Status Send(transport::Channel& ch, transport::FrameEncoder& enc, MsgType t, const Encoder& e) {
  return transport::WriteFrame(ch, enc, U8(t), e.view());
}

// Hello, the list of root "data", then the requests; returns the serve side's answer.
std::string Attack(transport::Channel& ch) {
  transport::FrameDecoder dec;
  transport::FrameEncoder enc({});
  Hello h{.software_version = "1.0",
          .node_name = "mdm-b",
          .clock_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count()};
  Encoder he;
  Encode(h, he);
  if (!Send(ch, enc, MsgType::kHello, he).ok()) return "no hello sent";
  if (!transport::ReadFrame(ch, dec).ok()) return "no hello back";
  Encoder le;
  Encode(ListRequest{.rehash_all = false, .roots = {"data"}}, le);
  if (!Send(ch, enc, MsgType::kListRequest, le).ok()) return "no list request sent";
  for (;;) {
    auto f = transport::ReadFrame(ch, dec);
    if (!f.ok()) return "no list: " + f.status().ToString();
    if (f->type == U8(MsgType::kListEnd)) break;
  }
  Encoder re;
  re.PutVarint(20);
  for (uint32_t id = 0; id < 20; ++id) {
    Encode(FileRequest{.id = id, .root = 0, .path = "big.img", .kind = RequestKind::kWhole}, re);
  }
  if (!Send(ch, enc, MsgType::kFileRequests, re).ok()) return "no requests sent";
  (void)Send(ch, enc, MsgType::kRequestsEnd, Encoder());
  for (int frames = 0; frames < 256; ++frames) {
    auto f = transport::ReadFrame(ch, dec);
    if (!f.ok()) return "no error: " + f.status().ToString();
    if (f->type == U8(MsgType::kError)) {
      auto e = DecodeError(f->payload);
      if (!e.ok()) return "a bad error frame";
      return "error " + std::to_string(e->code) + " " + e->message;
    }
  }
  return "no error";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "repeat-request") {
    std::fprintf(stderr, "usage: hostile_secondary repeat-request 'SERVE COMMAND'\n");
    return 2;
  }
  auto ch = transport::CommandChannel::Start(argv[2]);
  if (!ch.ok()) {
    std::printf("no channel: %s\n", ch.status().ToString().c_str());
    return 1;
  }
  std::string answer = Attack(**ch);
  (*ch)->CloseWrite();
  (void)(*ch)->Finish();
  ch->reset();
  struct rusage ru {};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  std::printf("%s\nmaxrss_kb %ld\n", answer.c_str(), ru.ru_maxrss);
  return 0;
}
