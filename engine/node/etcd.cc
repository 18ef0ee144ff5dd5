// The etcd v3 gateway client. What etcd 3.4's gateway does that shapes this file:
// - proto3 JSON: fields at their zero value are left out ("succeeded": false, "lease": 0, an
//   empty "value", a keepalive's "TTL" for a lease that is gone), so a missing field is zero.
// - int64 fields are JSON strings ("revision": "12"); numbers are accepted too.
// - errors come as HTTP 4xx/5xx with {"error", "message", "code": <gRPC code>}; the keepalive
//   stream wraps its answer as {"result": {...}} or {"error": {...}}.
// - gRPC code 14 (Unavailable: no leader, request timed out) is the member's trouble, not the
//   request's, so the next member is tried, as Patroni does; "not a primary lessor" too.
#include "engine/node/etcd.h"

#include <curl/curl.h>

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/log.h"
#include "engine/node/etcd_codec.h"

namespace hasync::engine {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kGrpcDeadlineExceeded = 4;
constexpr int kGrpcNotFound = 5;
constexpr int kGrpcUnavailable = 14;
constexpr int kMaxJsonDepth = 32;  // etcd's answers nest 5 deep; more is not etcd
constexpr int64_t kMinAttemptMs = 500;
constexpr int64_t kPassPauseMs = 100;

Status Malformed(const std::string& what) {
  return Status(Code::kProtocol, "etcd's answer is malformed: " + what);
}

// An int64 field: absent is 0 (proto3), a decimal string or a whole number.
Result<int64_t> Int64Field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return int64_t{0};
  if (it->is_number_integer()) return it->get<int64_t>();
  if (!it->is_string()) return Malformed(std::string(name) + " is not an integer");
  const std::string& s = it->get_ref<const std::string&>();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    return Malformed(std::string(name) + " '" + Printable(s.substr(0, 40)) + "' is not an integer");
  }
  return v;
}

// A base64 bytes field: absent is "".
Result<std::string> BytesField(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Malformed(std::string(name) + " is not a string");
  auto v = Base64Decode(it->get_ref<const std::string&>());
  if (!v) return Malformed(std::string(name) + " is not base64");
  return std::move(*v);
}

Result<EtcdKv> KvFromJson(const json& j) {
  if (!j.is_object()) return Malformed("a key-value is not an object");
  EtcdKv kv;
  HASYNC_ASSIGN_OR_RETURN(kv.key, BytesField(j, "key"));
  HASYNC_ASSIGN_OR_RETURN(kv.value, BytesField(j, "value"));
  HASYNC_ASSIGN_OR_RETURN(kv.create_revision, Int64Field(j, "create_revision"));
  HASYNC_ASSIGN_OR_RETURN(kv.mod_revision, Int64Field(j, "mod_revision"));
  HASYNC_ASSIGN_OR_RETURN(kv.lease, Int64Field(j, "lease"));
  if (kv.key.empty()) return Malformed("a key-value has no key");
  return kv;
}

// A range answer's "kvs" (absent: none).
Result<std::vector<EtcdKv>> KvsFromRange(const json& range) {
  std::vector<EtcdKv> out;
  if (!range.is_object()) return Malformed("a range answer is not an object");
  auto it = range.find("kvs");
  if (it == range.end() || it->is_null()) return out;
  if (!it->is_array()) return Malformed("kvs is not a list");
  for (const json& j : *it) {
    HASYNC_ASSIGN_OR_RETURN(EtcdKv kv, KvFromJson(j));
    out.push_back(std::move(kv));
  }
  return out;
}

void InitCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Body {
  std::string data;
  bool too_large = false;
};

size_t AppendBody(char* p, size_t size, size_t n, void* user) {
  auto* b = static_cast<Body*>(user);
  if (b->data.size() + size * n > EtcdClient::kMaxResponseBytes) {
    b->too_large = true;
    return 0;  // libcurl stops with CURLE_WRITE_ERROR
  }
  b->data.append(p, size * n);
  return size * n;
}

// One attempt's outcome: an answer to return (ok, or etcd's own error about the request), or a
// failure of this endpoint (try the next).
struct Attempt {
  bool endpoint_failed = false;
  Status status;  // the endpoint's failure, or etcd's error about the request
  json answer;
};

}  // namespace

struct EtcdClient::Connection {
  CURL* curl = nullptr;
  ~Connection() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

namespace {

// Reads an answer: HTTP status and body to an Attempt.
Attempt ReadAnswer(long http, Body& body) {
  Attempt a;
  if (body.data.empty() || NestsTooDeep(body.data, kMaxJsonDepth)) {
    a.endpoint_failed = true;
    a.status = Malformed(body.data.empty() ? "empty (HTTP " + std::to_string(http) + ")"
                                           : "nested too deep");
    return a;
  }
  json j = json::parse(body.data, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    a.endpoint_failed = true;
    a.status = Malformed("not a JSON object (HTTP " + std::to_string(http) + ")");
    return a;
  }
  // The keepalive stream's error is {"error": {...}}; the unary calls' is the object itself.
  const json* err = &j;
  if (auto it = j.find("error"); it != j.end() && it->is_object()) err = &*it;
  bool has_error = http >= 400 || err != &j;
  if (!has_error) {
    a.answer = std::move(j);
    return a;
  }
  int code = 0;
  for (const char* name : {"code", "grpc_code"}) {
    if (auto it = err->find(name); it != err->end() && it->is_number_integer()) code = *it;
  }
  std::string message = "HTTP " + std::to_string(http);
  for (const char* name : {"message", "error"}) {
    if (auto it = err->find(name); it != err->end() && it->is_string()) {
      message = it->get<std::string>();
      break;
    }
  }
  message = Printable(message.substr(0, 300));
  if (code == kGrpcUnavailable || code == kGrpcDeadlineExceeded ||
      message == "not a primary lessor" || http >= 500) {
    a.endpoint_failed = true;
    a.status = Status(Code::kUnreachable, message);
  } else if (code == kGrpcNotFound) {
    a.status = Status(Code::kNotFound, "etcd: " + message);
  } else {
    a.status = Status(Code::kPeer, "etcd refused the request: " + message);
  }
  return a;
}

Attempt Post(CURL* c, const std::string& url, const std::string& body, int64_t timeout_ms) {
  static curl_slist* headers = [] {
    curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/json");
    return curl_slist_append(h, "Expect:");  // no 100-continue round trip
  }();
  Body answer;
  char err[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(EtcdClient::kMaxResponseBytes));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  CURLcode rc = curl_easy_perform(c);
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  if (answer.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    return {
        true,
        Malformed("larger than " + std::to_string(EtcdClient::kMaxResponseBytes >> 20) + " MiB"),
        {}};
  }
  if (rc != CURLE_OK) {
    // libcurl's buffer says more ("Failed to connect to 127.0.0.1 port 2379 after 0 ms: ...").
    std::string what = err[0] != '\0' ? Printable(err) : curl_easy_strerror(rc);
    return {true, Status(Code::kUnreachable, what), {}};
  }
  return ReadAnswer(http, answer);
}

}  // namespace

Result<std::unique_ptr<EtcdClient>> EtcdClient::Create(std::vector<std::string> endpoints,
                                                       int timeout_ms) {
  if (endpoints.empty()) return Status(Code::kConfig, "etcd: no endpoints");
  if (timeout_ms <= 0) return Status(Code::kConfig, "etcd: the timeout must be positive");
  for (auto& e : endpoints) {
    if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0) {
      return Status(Code::kConfig, "etcd endpoint '" + e + "' is not an http(s):// URL");
    }
    while (e.back() == '/') e.pop_back();
  }
  InitCurl();
  return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(endpoints), timeout_ms));
}

EtcdClient::EtcdClient(std::vector<std::string> endpoints, int timeout_ms)
    : endpoints_(std::move(endpoints)), timeout_ms_(timeout_ms) {
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    connections_.push_back(std::make_unique<Connection>());
  }
}

EtcdClient::~EtcdClient() = default;

std::string EtcdClient::CurrentEndpoint() const {
  std::lock_guard<std::mutex> lock(mu_);
  return endpoints_[current_];
}

// The time budget is the call's, not each endpoint's: each attempt gets an equal share of what is
// left in its pass over the endpoints (at least kMinAttemptMs, so a slow member still gets a fair
// chance), and a refused connection costs nothing, so the next member gets the rest. Passes repeat,
// a short pause apart, until the deadline: during a leader election every member answers
// "unavailable" for a moment, and the call should outlast that, not fail.
Result<json> EtcdClient::Call(const std::string& path, const json& request) {
  const std::string body = request.dump();
  std::lock_guard<std::mutex> lock(mu_);
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
  auto left_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  };
  const size_t n = endpoints_.size();
  const size_t first = current_;
  std::vector<std::optional<Status>> last(n);  // each endpoint's last failure in this call
  for (size_t attempt = 0; left_ms() > 0; ++attempt) {
    if (attempt > 0 && attempt % n == 0) {
      // A pass ended. Only a member's passing trouble is worth waiting out; garbage stays garbage.
      bool transient = false;
      for (const auto& st : last) transient = transient || (st && st->code() != Code::kProtocol);
      if (!transient) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(kPassPauseMs, left_ms())));
      if (left_ms() <= 0) break;
    }
    size_t idx = (first + attempt) % n;
    const std::string& endpoint = endpoints_[idx];
    int64_t left = left_ms();
    int64_t share = std::max<int64_t>(left / static_cast<int64_t>(n - attempt % n), kMinAttemptMs);
    Connection& conn = *connections_[idx];
    if (conn.curl == nullptr) conn.curl = curl_easy_init();
    if (conn.curl == nullptr) return Status(Code::kInternal, "libcurl could not start");
    Log("etcd")->debug("POST {}{}", endpoint, path);
    Attempt a = Post(conn.curl, endpoint + path, body, std::min(share, left));
    if (!a.endpoint_failed) {
      if (idx != current_) Log("etcd")->info("etcd: now using {}", endpoint);
      current_ = idx;
      if (!a.status.ok()) return a.status;
      return std::move(a.answer);
    }
    if (!last[idx]) Log("etcd")->info("etcd {} failed: {}", endpoint, a.status.message());
    last[idx] = a.status;
  }
  std::string failures;
  bool all_protocol = true;
  for (size_t i = 0; i < n; ++i) {
    failures += (i ? "; " : "") + endpoints_[i] + " (" +
                (last[i] ? last[i]->message() : std::string("not tried in time")) + ")";
    all_protocol = all_protocol && last[i] && last[i]->code() == Code::kProtocol;
  }
  return Status(all_protocol ? Code::kProtocol : Code::kUnreachable,
                "etcd: no endpoint answered " + path + " within " + std::to_string(timeout_ms_) +
                    " ms: " + failures);
}

Result<int64_t> EtcdClient::Grant(int64_t ttl_s) {
  HASYNC_ASSIGN_OR_RETURN(json j, Call("/v3/lease/grant", {{"TTL", ttl_s}}));
  HASYNC_ASSIGN_OR_RETURN(int64_t id, Int64Field(j, "ID"));
  HASYNC_ASSIGN_OR_RETURN(int64_t ttl, Int64Field(j, "TTL"));
  if (auto it = j.find("error"); it != j.end() && it->is_string() && !it->empty()) {
    return Status(Code::kPeer, "etcd refused the lease: " + Printable(it->get<std::string>()));
  }
  if (id == 0 || ttl <= 0) return Malformed("the granted lease has no ID or TTL");
  if (ttl != ttl_s) {
    Log("etcd")->warn("etcd granted lease {:x} a TTL of {} s, not the {} s asked", id, ttl, ttl_s);
  }
  return id;
}

Result<int64_t> EtcdClient::KeepAlive(int64_t lease) {
  HASYNC_ASSIGN_OR_RETURN(json j, Call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}}));
  auto it = j.find("result");
  if (it == j.end() || !it->is_object()) return Malformed("a keepalive answer has no result");
  HASYNC_ASSIGN_OR_RETURN(int64_t ttl, Int64Field(*it, "TTL"));
  return std::max<int64_t>(ttl, 0);
}

Status EtcdClient::Revoke(int64_t lease) {
  return Call("/v3/lease/revoke", {{"ID", std::to_string(lease)}}).status();
}

Result<std::optional<EtcdKv>> EtcdClient::Get(const std::string& key) {
  HASYNC_ASSIGN_OR_RETURN(json j, Call("/v3/kv/range", {{"key", Base64Encode(key)}}));
  HASYNC_ASSIGN_OR_RETURN(auto kvs, KvsFromRange(j));
  if (kvs.empty()) return std::optional<EtcdKv>();
  if (kvs.size() != 1 || kvs[0].key != key) return Malformed("a range of one key gave another");
  return std::optional<EtcdKv>(std::move(kvs[0]));
}

Result<std::vector<EtcdKv>> EtcdClient::GetPrefix(const std::string& prefix) {
  json req = {{"key", Base64Encode(prefix)}, {"range_end", Base64Encode(PrefixEnd(prefix))}};
  HASYNC_ASSIGN_OR_RETURN(json j, Call("/v3/kv/range", req));
  HASYNC_ASSIGN_OR_RETURN(auto kvs, KvsFromRange(j));
  for (const auto& kv : kvs) {
    if (kv.key.compare(0, prefix.size(), prefix) != 0) {
      return Malformed("a prefix range gave a key outside the prefix");
    }
  }
  return kvs;
}

// One txn: if the key was never created, put it and read it back; else read it. The read is the
// last answer either way, so the caller sees the revisions etcd gave, not ones guessed from the
// header.
Result<CreateResult> EtcdClient::CreateIfAbsent(const std::string& key, const std::string& value,
                                                int64_t lease) {
  const std::string k = Base64Encode(key);
  json put = {{"key", k}, {"value", Base64Encode(value)}};
  if (lease != 0) put["lease"] = std::to_string(lease);
  json range = {{"request_range", {{"key", k}}}};
  json req = {
      {"compare",
       json::array(
           {{{"key", k}, {"result", "EQUAL"}, {"target", "CREATE"}, {"create_revision", "0"}}})},
      {"success", json::array({{{"request_put", put}}, range})},
      {"failure", json::array({range})}};
  HASYNC_ASSIGN_OR_RETURN(json j, Call("/v3/kv/txn", req));
  CreateResult out;
  auto won = j.find("succeeded");
  if (won != j.end() && !won->is_boolean()) return Malformed("succeeded is not true or false");
  out.won = won != j.end() && won->get<bool>();
  auto responses = j.find("responses");
  if (responses == j.end() || !responses->is_array() || responses->empty() ||
      !responses->back().is_object() || !responses->back().contains("response_range")) {
    return Malformed("a txn answer has no range");
  }
  HASYNC_ASSIGN_OR_RETURN(auto kvs, KvsFromRange(responses->back()["response_range"]));
  if (kvs.size() != 1 || kvs[0].key != key) return Malformed("a txn's range lacks the key");
  out.kv = std::move(kvs[0]);
  // A try that timed out may have been applied at etcd, and the retry then finds the key this
  // call created: a lease id is never given twice, so the key on our lease is ours.
  if (!out.won && lease != 0 && out.kv.lease == lease && out.kv.value == value) out.won = true;
  return out;
}

Status EtcdClient::Put(const std::string& key, const std::string& value, int64_t lease) {
  json req = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != 0) req["lease"] = std::to_string(lease);
  return Call("/v3/kv/put", req).status();
}

Status EtcdClient::DeleteIfValue(const std::string& key, const std::string& value) {
  const std::string k = Base64Encode(key);
  json req = {{"compare", json::array({{{"key", k},
                                        {"result", "EQUAL"},
                                        {"target", "VALUE"},
                                        {"value", Base64Encode(value)}}})},
              {"success", json::array({{{"request_delete_range", {{"key", k}}}}})}};
  HASYNC_ASSIGN_OR_RETURN(json j, Call("/v3/kv/txn", req));
  auto won = j.find("succeeded");
  if (won == j.end() || !won->is_boolean() || !won->get<bool>()) {
    Log("etcd")->debug("etcd: {} not deleted: it holds another value", Printable(key));
  }
  return Status::Ok();
}

}  // namespace hasync::engine
