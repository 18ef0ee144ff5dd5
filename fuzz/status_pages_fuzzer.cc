// Fuzzes the status pages' request handling as cpp-httplib's own fuzzer does
// (test/fuzzing/server_fuzzer.cc upstream): the bytes are one connection's request stream,
// read by httplib::Server::process_request (protected: a subclass reaches it) with the node's
// real routes (AddStatusRoutes, engine/node/status_pages.h) answering from a fixed snapshot.
#include <httplib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "engine/node/status_pages.h"

namespace {

class FuzzedStream : public httplib::Stream {
 public:
  FuzzedStream(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t n) override {
    n = std::min(n, size_ - pos_);
    std::memcpy(ptr, data_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t n) override {
    response_.append(ptr, n);
    return static_cast<ssize_t>(n);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8443;
  }
  socket_t socket() const override { return 0; }
  bool at_end() const { return pos_ == size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string response_;
};

class FuzzableServer : public httplib::Server {
 public:
  // A keep-alive connection's requests one after another, as process_and_close_socket reads them.
  void Process(FuzzedStream& stream) {
    bool closed = false;
    for (int i = 0; i < 8 && !closed && !stream.at_end(); ++i) {
      if (!process_request(stream, false, closed, nullptr)) break;
    }
  }
};

hasync::engine::NodeSnapshot Snapshot() {
  using namespace hasync::engine;
  NodeSnapshot n;
  n.node_name = "mdm-a";
  n.node.ha_enabled = true;
  n.node.mode = Mode::kPrimary;
  n.node.status = NodeStatus::kActive;
  n.node.generation = 3;
  HistoryRow last;
  last.id = 7;
  last.trigger = "scheduled";
  last.peer = "mdm-b";
  last.result = "failed";
  last.error = "<b>peer said</b> & \"quoted\"";
  n.last = last;
  n.results = {{"ok", 6}, {"failed", 1}};
  n.slots = {{"hasync_mdm_b", 4096}};
  n.now_ms = 1700000000000;
  return n;
}

FuzzableServer& Server() {
  static FuzzableServer* server = [] {
    auto* s = new FuzzableServer();
    hasync::engine::AddStatusRoutes(
        *s, [] { return hasync::Result<hasync::engine::NodeSnapshot>(Snapshot()); },
        "fuzz-token-0123456789");
    return s;
  }();
  return *server;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedStream stream(data, size);
  Server().Process(stream);
  return 0;
}
