// EtcdClient against a real three-member etcd cluster (tests/etcd_harness.h): leases kept and
// lost, one winner of the leader key, deletes that touch only one's own key, fail-over between
// members, all members down; and against a hostile HTTP server on loopback that answers garbage.
#include "engine/node/etcd.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <thread>

#include "tests/etcd_harness.h"

namespace hasync::engine {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::EtcdCluster;

constexpr int kTimeoutMs = 3000;

std::unique_ptr<EtcdClient> Client(std::vector<std::string> endpoints,
                                   int timeout_ms = kTimeoutMs) {
  auto c = EtcdClient::Create(std::move(endpoints), timeout_ms);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(*c) : nullptr;
}

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = EtcdCluster::Start();
    ASSERT_NE(cluster_, nullptr);
    client_ = Client(cluster_->endpoint_list());
    ASSERT_NE(client_, nullptr);
  }
  std::unique_ptr<EtcdCluster> cluster_;
  std::unique_ptr<EtcdClient> client_;
};

TEST_F(EtcdClientTest, KeepAliveKeepsTheKeyPastItsTtl) {
  auto lease = client_->Grant(2);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_TRUE(client_->Put("/t/alive", "node-a", *lease).ok());
  auto until = steady_clock::now() + milliseconds(4500);  // more than twice the TTL
  while (steady_clock::now() < until) {
    auto ttl = client_->KeepAlive(*lease);
    ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
    EXPECT_EQ(*ttl, 2);
    std::this_thread::sleep_for(milliseconds(500));
  }
  auto kv = client_->Get("/t/alive");
  ASSERT_TRUE(kv.ok()) << kv.status().ToString();
  ASSERT_TRUE(kv->has_value()) << "the renewed lease's key expired";
  EXPECT_EQ((*kv)->value, "node-a");
  EXPECT_EQ((*kv)->lease, *lease);
  ASSERT_TRUE(client_->Revoke(*lease).ok());
  auto gone = client_->Get("/t/alive");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value()) << "revoking the lease deletes its key";
}

TEST_F(EtcdClientTest, LeaseNotRenewedExpiresAndItsKeyDisappears) {
  auto lease = client_->Grant(2);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_TRUE(client_->Put("/t/mortal", "node-a", *lease).ok());
  auto start = steady_clock::now();
  bool gone = false;
  while (!gone && steady_clock::now() < start + milliseconds(8000)) {
    std::this_thread::sleep_for(milliseconds(200));
    auto kv = client_->Get("/t/mortal");
    ASSERT_TRUE(kv.ok()) << kv.status().ToString();
    gone = !kv->has_value();
  }
  ASSERT_TRUE(gone) << "the key outlived its unrenewed lease by far";
  EXPECT_GE(steady_clock::now() - start, milliseconds(1500)) << "expired before its TTL";
  auto ttl = client_->KeepAlive(*lease);
  ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
  EXPECT_EQ(*ttl, 0) << "a keepalive of an expired lease says it is gone";
  Status put = client_->Put("/t/mortal", "node-a", *lease);
  EXPECT_EQ(put.code(), Code::kNotFound) << put.ToString();
  EXPECT_EQ(client_->Revoke(*lease).code(), Code::kNotFound);
}

TEST_F(EtcdClientTest, CreateIfAbsentHasExactlyOneWinner) {
  auto other = Client(cluster_->endpoint_list());
  ASSERT_NE(other, nullptr);
  auto lease_a = client_->Grant(10);
  auto lease_b = other->Grant(10);
  ASSERT_TRUE(lease_a.ok() && lease_b.ok());
  std::optional<Result<CreateResult>> a, b;
  std::thread ta([&] { a = client_->CreateIfAbsent("/t/leader", "node-a", *lease_a); });
  std::thread tb([&] { b = other->CreateIfAbsent("/t/leader", "node-b", *lease_b); });
  ta.join();
  tb.join();
  ASSERT_TRUE(a->ok()) << a->status().ToString();
  ASSERT_TRUE(b->ok()) << b->status().ToString();
  ASSERT_NE((*a)->won, (*b)->won) << "exactly one creates the key";
  const CreateResult& winner = (*a)->won ? a->value() : b->value();
  const CreateResult& loser = (*a)->won ? b->value() : a->value();
  EXPECT_EQ(winner.kv.value, (*a)->won ? "node-a" : "node-b");
  EXPECT_EQ(loser.kv.value, winner.kv.value) << "the loser sees the winner's value";
  EXPECT_EQ(loser.kv.create_revision, winner.kv.create_revision);
  EXPECT_GT(winner.kv.create_revision, 0);
  EXPECT_EQ(winner.kv.mod_revision, winner.kv.create_revision);
  EXPECT_EQ(loser.kv.lease, (*a)->won ? *lease_a : *lease_b);
  auto all = client_->GetPrefix("/t/");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].key, "/t/leader");
  // Absent again once the winner's lease ends; then the other can win.
  ASSERT_TRUE(client_->Revoke((*a)->won ? *lease_a : *lease_b).ok());
  auto again = client_->CreateIfAbsent("/t/leader", "node-c", 0);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->won);
  EXPECT_GT(again->kv.create_revision, winner.kv.create_revision);
}

TEST_F(EtcdClientTest, DeleteIfValueLeavesAnothersKeyAlone) {
  ASSERT_TRUE(client_->Put("/t/leader", "node-a").ok());
  ASSERT_TRUE(client_->DeleteIfValue("/t/leader", "node-b").ok());
  auto kv = client_->Get("/t/leader");
  ASSERT_TRUE(kv.ok());
  ASSERT_TRUE(kv->has_value()) << "another's key was deleted";
  EXPECT_EQ((*kv)->value, "node-a");
  ASSERT_TRUE(client_->DeleteIfValue("/t/leader", "node-a").ok());
  kv = client_->Get("/t/leader");
  ASSERT_TRUE(kv.ok());
  EXPECT_FALSE(kv->has_value()) << "one's own key stays";
  EXPECT_TRUE(client_->DeleteIfValue("/t/leader", "node-a").ok()) << "absent: nothing to do";
}

// Values are bytes: binary keys and values, and an empty value (left out of etcd's JSON).
TEST_F(EtcdClientTest, KeysAndValuesAreBytes) {
  std::string key = std::string("/t/\x00\xff\x01", 6), value = std::string("\xfe\x00z", 3);
  ASSERT_TRUE(client_->Put(key, value).ok());
  ASSERT_TRUE(client_->Put("/t/empty", "").ok());
  auto kv = client_->Get(key);
  ASSERT_TRUE(kv.ok() && kv->has_value()) << kv.status().ToString();
  EXPECT_EQ((*kv)->value, value);
  auto empty = client_->Get("/t/empty");
  ASSERT_TRUE(empty.ok() && empty->has_value());
  EXPECT_EQ((*empty)->value, "");
  auto all = client_->GetPrefix("/t/");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
}

TEST_F(EtcdClientTest, OneMemberKilledEveryCallStillWorks) {
  ASSERT_TRUE(client_->Put("/t/before", "x").ok());
  ASSERT_EQ(client_->CurrentEndpoint(), cluster_->endpoint(0));
  cluster_->Kill(0);  // the member the client was using
  auto start = steady_clock::now();
  auto lease = client_->Grant(5);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_NE(client_->CurrentEndpoint(), cluster_->endpoint(0));
  EXPECT_TRUE(client_->Put("/t/a", "1", *lease).ok());
  auto kv = client_->Get("/t/before");
  ASSERT_TRUE(kv.ok() && kv->has_value()) << kv.status().ToString();
  auto ttl = client_->KeepAlive(*lease);
  ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
  EXPECT_EQ(*ttl, 5);
  auto created = client_->CreateIfAbsent("/t/leader", "node-a", *lease);
  ASSERT_TRUE(created.ok() && created->won) << created.status().ToString();
  auto all = client_->GetPrefix("/t/");
  ASSERT_TRUE(all.ok() && all->size() == 3) << all.status().ToString();
  EXPECT_TRUE(client_->DeleteIfValue("/t/leader", "node-a").ok());
  EXPECT_TRUE(client_->Revoke(*lease).ok());
  EXPECT_LT(steady_clock::now() - start, milliseconds(4 * kTimeoutMs));
  // A new client whose first endpoint is the dead one works as well.
  auto fresh = Client(cluster_->endpoint_list());
  auto got = fresh->Get("/t/before");
  EXPECT_TRUE(got.ok() && got->has_value()) << got.status().ToString();
}

TEST_F(EtcdClientTest, AllMembersKilledIsOneClearErrorWithinTheTimeout) {
  for (int i = 0; i < cluster_->size(); ++i) cluster_->Kill(i);
  auto start = steady_clock::now();
  auto kv = client_->Get("/t/x");
  auto took = steady_clock::now() - start;
  ASSERT_FALSE(kv.ok());
  std::cerr << "the error as a user sees it: " << kv.status().ToString() << "\n";
  EXPECT_EQ(kv.status().code(), Code::kUnreachable);
  for (const auto& e : cluster_->endpoint_list()) {
    EXPECT_NE(kv.status().message().find(e), std::string::npos) << kv.status().message();
  }
  EXPECT_LT(took, milliseconds(kTimeoutMs + 1000)) << kv.status().message();
  EXPECT_EQ(client_->KeepAlive(1).status().code(), Code::kUnreachable);
}

// A loopback HTTP server that answers every request with what respond() writes.
class HostileServer {
 public:
  explicit HostileServer(std::function<void(int fd)> respond) : respond_(std::move(respond)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~HostileServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

  static void Send(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;  // the client gave up: as it should
      off += static_cast<size_t>(n);
    }
  }

 private:
  void Serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      // The request's head, then as much body as Content-Length says.
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      ++requests_;
      respond_(c);
      ::close(c);
    }
  }
  std::function<void(int)> respond_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

std::string Reply(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Each hostile answer is one clear error with the endpoint in it, never a crash or a huge
// allocation.
TEST(EtcdHostileTest, GarbageAnswersAreOneClearError) {
  struct Case {
    std::string name;
    std::function<void(int)> respond;
    std::string says;
  };
  std::vector<Case> cases = {
      {"not JSON", [](int fd) { HostileServer::Send(fd, Reply("<html>hello</html>")); },
       "not a JSON object"},
      {"truncated JSON", [](int fd) { HostileServer::Send(fd, Reply("{\"kvs\": [")); },
       "not a JSON object"},
      {"a JSON list", [](int fd) { HostileServer::Send(fd, Reply("[1,2]")); }, "not a JSON object"},
      {"empty", [](int fd) { HostileServer::Send(fd, Reply("")); }, "empty"},
      {"nested deep", [](int fd) { HostileServer::Send(fd, Reply(std::string(1 << 20, '['))); },
       "nested too deep"},
      {"huge, its length said",
       [](int fd) {
         HostileServer::Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n");
         HostileServer::Send(fd, std::string(64 << 20, ' '));
       },
       "larger than 4 MiB"},
      {"huge, to the close",
       [](int fd) {
         HostileServer::Send(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"kvs\": \"");
         HostileServer::Send(fd, std::string(64 << 20, 'a'));
       },
       "larger than 4 MiB"},
      {"kvs not a list", [](int fd) { HostileServer::Send(fd, Reply("{\"kvs\": \"x\"}")); },
       "kvs is not a list"},
      {"key not base64",
       [](int fd) { HostileServer::Send(fd, Reply("{\"kvs\": [{\"key\": \"!!!!\"}]}")); },
       "not base64"},
      {"revision not a number",
       [](int fd) {
         HostileServer::Send(
             fd, Reply("{\"kvs\": [{\"key\": \"L3QveA==\", \"mod_revision\": \"12abc\"}]}"));
       },
       "not an integer"},
      {"another key",
       [](int fd) { HostileServer::Send(fd, Reply("{\"kvs\": [{\"key\": \"L290aGVy\"}]}")); },
       "gave another"},
      {"an HTML error page",
       [](int fd) {
         HostileServer::Send(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
       },
       "not a JSON object (HTTP 404)"},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    HostileServer server(c.respond);
    auto client = Client({server.url()}, 5000);
    auto kv = client->Get("/t/x");
    ASSERT_FALSE(kv.ok());
    EXPECT_EQ(kv.status().code(), Code::kProtocol) << kv.status().ToString();
    EXPECT_NE(kv.status().message().find(c.says), std::string::npos) << kv.status().message();
  }
}

TEST(EtcdHostileTest, SilentServerTimesOutWithinTheTimeout) {
  HostileServer server([](int) { std::this_thread::sleep_for(milliseconds(1500)); });
  auto client = Client({server.url()}, 1000);
  auto start = steady_clock::now();
  auto ttl = client->KeepAlive(7);
  ASSERT_FALSE(ttl.ok());
  EXPECT_EQ(ttl.status().code(), Code::kUnreachable) << ttl.status().ToString();
  EXPECT_NE(ttl.status().message().find(server.url()), std::string::npos);
  EXPECT_LT(steady_clock::now() - start, milliseconds(2000));
}

TEST(EtcdHostileTest, KeepAliveOfAGoneLeaseIsZeroAndErrorsAreEtcds) {
  HostileServer gone(
      [](int fd) { HostileServer::Send(fd, Reply("{\"result\": {\"ID\": \"7\"}}")); });
  auto ttl = Client({gone.url()})->KeepAlive(7);
  ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
  EXPECT_EQ(*ttl, 0);
  HostileServer refused([](int fd) {
    std::string body = "{\"error\":\"bad \\u001b[31m\",\"message\":\"bad \\u001b[31m\",\"code\":3}";
    HostileServer::Send(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body);
  });
  Status st = Client({refused.url()})->Put("/t/x", "v");
  EXPECT_EQ(st.code(), Code::kPeer) << st.ToString();
  EXPECT_EQ(st.message().find('\x1b'), std::string::npos) << "etcd's text is made printable";
}

// A garbage answer from one endpoint moves the call to the next, which answers.
TEST_F(EtcdClientTest, GarbageEndpointIsPassedOver) {
  HostileServer server([](int fd) { HostileServer::Send(fd, Reply("nonsense")); });
  auto client = Client({server.url(), cluster_->endpoint(1)});
  ASSERT_TRUE(client->Put("/t/x", "v").ok());
  EXPECT_EQ(client->CurrentEndpoint(), cluster_->endpoint(1));
  EXPECT_EQ(server.requests(), 1);
  auto kv = client->Get("/t/x");
  EXPECT_TRUE(kv.ok() && kv->has_value());
  EXPECT_EQ(server.requests(), 1) << "the endpoint that answered is remembered";
}

}  // namespace
}  // namespace hasync::engine
