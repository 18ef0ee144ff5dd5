// EtcdClient: the few etcd v3 calls hasync's leader lease needs (issue 16), spoken as JSON to
// etcd's gRPC gateway (/v3/...) over libcurl, so no gRPC stack is linked. Keys and values travel
// base64-encoded; etcd's int64 fields arrive as JSON strings. The one adapter for the gateway's
// and libcurl's errors.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace hasync::engine {

// One key as etcd holds it. lease 0: not attached to a lease.
struct EtcdKv {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

// CreateIfAbsent's answer: won is true when this call created the key (or a retry of it found the
// key on the caller's lease with its value); kv is the key as etcd holds it after the call (ours
// when won, the holder's otherwise).
struct CreateResult {
  bool won = false;
  EtcdKv kv;
};

// Errors: kUnreachable when no endpoint answered within the timeout (the message names every
// endpoint and why it failed); kProtocol when an answer was not etcd's (not JSON, the wrong
// shape, larger than kMaxResponseBytes, every endpoint that answered did so); kNotFound for a
// lease etcd does not know; kPeer for any other error etcd reported (its message, printable).
//
// Endpoints: a call starts at the endpoint that last answered; a connection error, a timeout, a
// malformed answer or etcd's "unavailable" (no leader, request timed out) moves it to the next,
// round and round until the call's timeout_ms, which bounds it in total. So a call may reach etcd
// twice: Put, KeepAlive, DeleteIfValue and CreateIfAbsent are safe to repeat; a repeated Grant
// leaves an unused lease to expire.
//
// Thread safety: calls may come from several threads; they are serialised (one connection per
// endpoint is kept and reused).
class EtcdClient {
 public:
  // An answer past this is refused (kProtocol) before it is all read.
  static constexpr size_t kMaxResponseBytes = 4 << 20;

  // endpoints: "http://host:port" or "https://host:port" (the config has validated them).
  // REQUIRES: !endpoints.empty(), timeout_ms > 0.
  static Result<std::unique_ptr<EtcdClient>> Create(std::vector<std::string> endpoints,
                                                    int timeout_ms);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // A new lease of ttl_s seconds; its id. etcd raises a TTL below its minimum (1.5 election
  // timeouts, rounded up to whole seconds) to that minimum, and this logs a warning when it does.
  Result<int64_t> Grant(int64_t ttl_s);
  // Renews the lease; its TTL now, in seconds. 0: etcd no longer has the lease (it expired or was
  // revoked), and the keys attached to it are gone.
  Result<int64_t> KeepAlive(int64_t lease);
  // Ends the lease now, deleting its keys. kNotFound when etcd has no such lease.
  Status Revoke(int64_t lease);

  // The key, or nullopt when it does not exist.
  Result<std::optional<EtcdKv>> Get(const std::string& key);
  // Every key starting with prefix, in key order. REQUIRES: !prefix.empty().
  Result<std::vector<EtcdKv>> GetPrefix(const std::string& prefix);
  // Creates key = value attached to lease (0: none) unless it exists, atomically (one txn:
  // create_revision == 0 ? put : range).
  Result<CreateResult> CreateIfAbsent(const std::string& key, const std::string& value,
                                      int64_t lease);
  // Sets key = value, attached to lease (0: none). kNotFound when the lease does not exist.
  Status Put(const std::string& key, const std::string& value, int64_t lease = 0);
  // Deletes key only while its value is value (one txn), so a node releases only its own key;
  // Ok also when the key held something else or was absent (then it is left as it was).
  Status DeleteIfValue(const std::string& key, const std::string& value);

  // The endpoint the next call starts at (the one that answered last).
  std::string CurrentEndpoint() const;

 private:
  struct Connection;
  EtcdClient(std::vector<std::string> endpoints, int timeout_ms);
  // POSTs body to path (e.g. "/v3/kv/range") and returns etcd's JSON answer (an object), trying
  // the endpoints in turn as the class comment says.
  Result<nlohmann::json> Call(const std::string& path, const nlohmann::json& body);

  const std::vector<std::string> endpoints_;
  const int timeout_ms_;
  mutable std::mutex mu_;
  size_t current_ = 0;                                    // guarded by mu_
  std::vector<std::unique_ptr<Connection>> connections_;  // one per endpoint, guarded by mu_
};

}  // namespace hasync::engine
