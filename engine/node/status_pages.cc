// The pages' content, and the cpp-httplib servers around them: a worker per open connection
// (up to a cap), so slow clients cannot hold the load balancer's probes in a queue, a listener
// of their own for the load balancer's pages ([status] lb_listen), and the details behind
// [status] token.
#include "engine/node/status_pages.h"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "engine/db/db_serve.h"

namespace hasync::engine {
namespace {

constexpr char kOk[] = "MOBILEIRON-STATUS: OK";

// Why this node must not take client traffic now, or "" when it may.
std::string NotServing(const NodeSnapshot& n) {
  if (!n.node.superseded.empty()) return n.node.superseded;
  if (n.node.mode == Mode::kSecondary && n.node.status == NodeStatus::kStandby) {
    return "this node is the Secondary (Standby)";
  }
  if (!n.node.client_connections) return "client connections are disabled on this node";
  if (n.peer_unchecked) return "checking whether the peer took over before taking traffic";
  if (!n.etcd.not_serving.empty()) return n.etcd.not_serving;
  return "";
}

nlohmann::ordered_json SyncJson(const HistoryRow& h, bool details) {
  nlohmann::ordered_json j = {{"id", h.id},
                              {"result", h.result},
                              {"started_ms", h.started},
                              {"finished_ms", h.finished},
                              {"duration_s", h.duration_s},
                              {"bytes_wire", h.bytes_wire}};
  if (details) {
    j["trigger"] = h.trigger;
    j["peer"] = h.peer;
    j["error"] = h.error;  // paths, table names, PostgreSQL's own messages
  }
  return j;
}

std::string Label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// The superseded reason names nodes a peer chose: into text/html it goes escaped.
std::string Html(const std::string& v) {
  std::string out;
  for (char c : v) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

Page StatusPage(const NodeSnapshot& n) {
  std::string why = NotServing(n);
  if (why.empty()) return {200, "text/html", kOk};
  return {503, "text/html", "MOBILEIRON-STATUS: FAILED (" + Html(why) + ")"};
}

Page HaStatusPage(const NodeSnapshot& n) {
  const NodeInfo& i = n.node;
  if (!i.superseded.empty()) {
    return {503, "text/html", "MOBILEIRON-STATUS: FAILED (" + Html(i.superseded) + ")"};
  }
  if (i.mode == Mode::kPrimary || i.status == NodeStatus::kActive) {
    return {200, "text/html", std::string(kOk) + " (Mode: Primary)"};
  }
  if (!i.ha_enabled) {
    return {503, "text/html", "MOBILEIRON-STATUS: FAILED (HA is disabled on this Secondary)"};
  }
  return {200, "text/html", std::string(kOk) + " (Mode: Standby)"};
}

Page JsonPage(const NodeSnapshot& n, const PageOptions& o) {
  nlohmann::ordered_json j;
  j["node"] = n.node_name;
  j["mode"] = ModeName(n.node.mode);
  j["node_status"] = NodeStatusName(n.node.status);
  j["ha_enabled"] = n.node.ha_enabled;
  j["client_connections"] = n.node.client_connections;
  j["serving"] = NotServing(n).empty();
  j["generation"] = n.node.generation;
  j["epoch"] = n.node.epoch;
  if (n.etcd.enabled) {
    j["etcd"] = {{"lease_valid", n.etcd.lease_valid}, {"leader", n.etcd.holder}};
    if (o.details) j["etcd"]["problem"] = n.etcd.problem;  // endpoints, etcd's own words
  }
  if (o.details) {
    j["generation_started_by"] = n.node.lineage.empty() ? "" : n.node.lineage.back().node;
    j["superseded"] = n.node.superseded;
  }
  j["details"] = o.details;
  j["last_sync"] = n.last ? SyncJson(*n.last, o.details) : nlohmann::ordered_json(nullptr);
  j["last_success"] = n.last_ok ? SyncJson(*n.last_ok, o.details) : nlohmann::ordered_json(nullptr);
  // Lag: how old the newest successful sync is (the Secondary's data is at least this stale).
  j["lag_s"] = n.last_ok ? nlohmann::ordered_json((n.now_ms - n.last_ok->started) / 1000.0)
                         : nlohmann::ordered_json(nullptr);
  j["heartbeat_failures"] = n.heartbeat_failures;
  if (o.details) {
    // A Primary's slots, one per Secondary (slot names name peers: a detail).
    j["slots"] = nlohmann::ordered_json::array();
    for (const auto& [slot, bytes] : n.slots) {
      j["slots"].push_back({{"slot", slot},
                            {"node", DbSource::PeerOfSlot(slot).value_or("")},
                            {"wal_retained_bytes", bytes}});
    }
  }
  return {200, "application/json", j.dump() + "\n"};
}

Page MetricsPage(const NodeSnapshot& n, const PageOptions& o) {
  std::string m;
  auto metric = [&m](const std::string& name, const std::string& type, const std::string& help,
                     const std::string& samples) {
    m += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + samples;
  };
  std::string node = "node=\"" + Label(n.node_name) + "\"";
  metric("hasync_node_info", "gauge", "This node's mode and status (always 1).",
         "hasync_node_info{" + node + ",mode=\"" + ModeName(n.node.mode) + "\",node_status=\"" +
             NodeStatusName(n.node.status) + "\"} 1\n");
  metric("hasync_serving", "gauge", "1 while /status/status.html says OK.",
         "hasync_serving " + std::string(NotServing(n).empty() ? "1" : "0") + "\n");
  if (n.etcd.enabled) {
    metric("hasync_etcd_lease_valid", "gauge",
           "1 while this node holds etcd's leader key on a lease it renewed in time.",
           "hasync_etcd_lease_valid " + std::string(n.etcd.lease_valid ? "1" : "0") + "\n");
  }
  metric("hasync_ha_enabled", "gauge", "1 when HA is enabled.",
         "hasync_ha_enabled " + std::string(n.node.ha_enabled ? "1" : "0") + "\n");
  metric("hasync_generation", "gauge", "The HA generation of this node's data.",
         "hasync_generation " + std::to_string(n.node.generation) + "\n");
  std::string results;
  for (const auto& [result, count] : n.results) {
    results +=
        "hasync_syncs_total{result=\"" + Label(result) + "\"} " + std::to_string(count) + "\n";
  }
  metric("hasync_syncs_total", "counter", "Syncs in the history, by result.", results);
  if (n.last_ok) {
    metric("hasync_last_success_timestamp_seconds", "gauge",
           "When the newest successful sync finished.",
           "hasync_last_success_timestamp_seconds " + std::to_string(n.last_ok->finished / 1000) +
               "\n");
    metric("hasync_last_sync_duration_seconds", "gauge", "Wall time of the newest successful sync.",
           "hasync_last_sync_duration_seconds " + std::to_string(n.last_ok->duration_s) + "\n");
    metric("hasync_last_sync_bytes", "gauge", "Bytes on the wire of the newest successful sync.",
           "hasync_last_sync_bytes " + std::to_string(n.last_ok->bytes_wire) + "\n");
  }
  metric("hasync_heartbeat_failures", "gauge", "Consecutive failed heartbeats now.",
         "hasync_heartbeat_failures " + std::to_string(n.heartbeat_failures) + "\n");
  metric("hasync_heartbeat_failures_total", "counter",
         "Failed heartbeats since the daemon started.",
         "hasync_heartbeat_failures_total " + std::to_string(n.heartbeat_failures_total) + "\n");
  if (o.details && !n.slots.empty()) {
    std::string slots;
    for (const auto& [slot, bytes] : n.slots) {
      slots += "hasync_slot_wal_retained_bytes{slot=\"" + Label(slot) + "\",node=\"" +
               Label(DbSource::PeerOfSlot(slot).value_or("")) + "\"} " + std::to_string(bytes) +
               "\n";
    }
    metric("hasync_slot_wal_retained_bytes", "gauge",
           "WAL each Secondary's replication slot keeps on this Primary (node: the Secondary).",
           slots);
  }
  return {200, "text/plain; version=0.0.4", m};
}

namespace {

// cpp-httplib gives each accepted connection to its task queue before reading a byte of it, so
// a fixed pool of four was held by four clients sending a byte a second, and the load
// balancer's probe waited behind them. Here every connection gets a worker of its own at once
// (a thread is started when none is idle), up to a cap at a time: slow or long-lived
// connections then cost a thread each, and the probes still find one while fewer than the cap
// are held. Past the cap connections wait in line, which is why the load balancer's pages can
// have a listener (and so a queue) of their own.
class ConnectionWorkers : public httplib::TaskQueue {
 public:
  explicit ConnectionWorkers(size_t max_workers) : max_workers_(max_workers) {}

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(fn));
    if (idle_ < jobs_.size() && threads_.size() < max_workers_) {
      threads_.emplace_back([this] { Work(); });
    }
    cv_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();  // no enqueue after shutdown: the listener has stopped
  }

 private:
  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;  // stopping, nothing left
      auto fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  const size_t max_workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stop_ = false;
};

// The details (/status.json's errors, peers and reasons, /metrics' slots) need
// `Authorization: Bearer <[status] token>`; a request without the header gets the plain page,
// one with a wrong token (or any, when no token is set) 401.
enum class Access { kPlain, kDetails, kRefused };

Access Authorize(const httplib::Request& req, const std::string& token) {
  if (!req.has_header("Authorization")) return Access::kPlain;
  std::string given = req.get_header_value("Authorization");
  std::string want = "Bearer " + token;
  if (token.empty() || given.size() != want.size()) return Access::kRefused;
  unsigned char diff = 0;  // compared in constant time
  for (size_t i = 0; i < want.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ want[i]);
  return diff == 0 ? Access::kDetails : Access::kRefused;
}

using PageFn = Page (*)(const NodeSnapshot&, const PageOptions&);

// The handler for one page. open: the load balancer's pages, which never look at the header.
httplib::Server::Handler Serve(StatusServer::Source source, std::string token, PageFn page,
                               bool open) {
  return [source, page, token, open](const httplib::Request& req, httplib::Response& res) {
    Access access = open ? Access::kPlain : Authorize(req, token);
    if (access == Access::kRefused) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Bearer");
      res.set_content(token.empty() ? "no [status] token is set on this node: details are off\n"
                                    : "wrong token\n",
                      "text/plain");
      return;
    }
    auto snap = source();
    if (!snap.ok()) {
      res.status = 503;
      res.set_content("MOBILEIRON-STATUS: FAILED (node state unreadable" +
                          (access == Access::kDetails ? ": " + snap.status().message() : "") + ")",
                      "text/plain");
      return;
    }
    Page p = page(*snap, PageOptions{.details = access == Access::kDetails});
    res.status = p.code;
    res.set_content(p.body, p.content_type.c_str());
  };
}

Page StatusOnly(const NodeSnapshot& n, const PageOptions&) { return StatusPage(n); }
Page HaStatusOnly(const NodeSnapshot& n, const PageOptions&) { return HaStatusPage(n); }

}  // namespace

void AddLoadBalancerRoutes(httplib::Server& server, StatusServer::Source source) {
  // GET handlers answer HEAD too (cpp-httplib sends the headers without the body).
  server.Get("/status/status.html", Serve(source, "", StatusOnly, true));
  server.Get("/hastatus.html", Serve(source, "", HaStatusOnly, true));
}

void AddStatusRoutes(httplib::Server& server, StatusServer::Source source,
                     const std::string& token) {
  AddLoadBalancerRoutes(server, source);
  server.Get("/status.json", Serve(source, token, JsonPage, false));
  server.Get("/metrics", Serve(source, token, MetricsPage, false));
}

struct StatusServer::Impl {
  // One listener: a cpp-httplib server on its own thread, with its own task queue.
  struct Listener {
    size_t max_workers;
    time_t timeout_s;  // read and write
    std::unique_ptr<httplib::Server> server;
    std::thread thread;

    // Binds `address` (host:port, validated by the settings) with s's TLS, and serves the
    // routes `add` registers. Returns the port.
    Result<int> Open(const StatusSettings& s, const std::string& address,
                     const std::function<void(httplib::Server&)>& add) {
      if (s.tls_cert.empty()) {
        server = std::make_unique<httplib::Server>();
      } else {
        server = std::make_unique<httplib::SSLServer>(s.tls_cert.c_str(), s.tls_key.c_str());
        if (!server->is_valid()) {
          return Status(Code::kConfig, "status: cannot use the certificate " + s.tls_cert +
                                           " and key " + s.tls_key +
                                           " (missing, unreadable, or not a matching pair)");
        }
      }
      // Probes and scrapes, not a web site: no keep-alive (a proxy's idle kept-alive
      // connections would hold workers), and a worker per connection.
      size_t cap = max_workers;
      server->new_task_queue = [cap] { return new ConnectionWorkers(cap); };
      server->set_keep_alive_max_count(1);
      server->set_read_timeout(timeout_s, 0);
      server->set_write_timeout(timeout_s, 0);
      add(*server);
      size_t colon = address.rfind(':');
      std::string host = address.substr(0, colon);
      if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
      int port = std::stoi(address.substr(colon + 1));
      if (!server->bind_to_port(host, port)) {
        // A settings problem (exit 3): systemd's unit does not restart the daemon into it.
        return Status(Code::kConfig, "status: cannot listen on " + address +
                                         " (in use, or not an address of this machine): "
                                         "change [status] listen or lb_listen, or free the port");
      }
      thread = std::thread([srv = server.get()] { srv->listen_after_bind(); });
      // stop() does nothing to a server that is not running yet: wait for it, so that Close
      // right after Open cannot leave the thread listening.
      for (int i = 0; i < 1000 && !server->is_running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      return port;
    }

    void Close() {
      if (!server) return;
      server->stop();
      if (thread.joinable()) thread.join();
    }
  };

  // listen: everything, a worker per connection up to 64, the 5 s timeouts probes and scrapes
  // need at most. lb_listen: two pages answered at once, so few workers and a short timeout
  // (a load balancer sends its request at once; HAProxy's check timeout is seconds).
  Listener main{.max_workers = 64, .timeout_s = 5};
  Listener lb{.max_workers = 8, .timeout_s = 2};

  ~Impl() {
    lb.Close();
    main.Close();
  }
};

Result<std::unique_ptr<StatusServer>> StatusServer::Start(const StatusSettings& s, Source source) {
  std::unique_ptr<StatusServer> out(new StatusServer());
  out->impl_ = std::make_unique<Impl>();
  std::string scheme = s.tls_cert.empty() ? "http" : "https";
  if (!s.listen.empty()) {
    HASYNC_ASSIGN_OR_RETURN(out->port_,
                            out->impl_->main.Open(s, s.listen, [&](httplib::Server& srv) {
                              AddStatusRoutes(srv, source, s.token);
                            }));
    Log("status")->info("status pages on {}://{}{}", scheme, s.listen,
                        s.token.empty() ? " (details off: no [status] token)" : "");
  }
  if (!s.lb_listen.empty()) {
    HASYNC_ASSIGN_OR_RETURN(out->lb_port_,
                            out->impl_->lb.Open(s, s.lb_listen, [&](httplib::Server& srv) {
                              AddLoadBalancerRoutes(srv, source);
                            }));
    Log("status")->info("the load balancer's pages on {}://{} (their own workers)", scheme,
                        s.lb_listen);
  }
  return out;
}

StatusServer::~StatusServer() = default;

}  // namespace hasync::engine
