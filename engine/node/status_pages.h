// The load balancer's pages and the monitoring endpoints the daemon serves (DESIGN.md,
// "Contracts": the exact strings some deployed monitors match):
//   GET|HEAD /status/status.html  200 "MOBILEIRON-STATUS: OK" while this node serves as Primary
//                                 (or promoted Secondary) and accepts clients; else 503.
//   GET|HEAD /hastatus.html       200 "MOBILEIRON-STATUS: OK (Mode: Standby)" on a healthy
//                                 standby, "... (Mode: Primary)" while it acts as Primary; else
//                                 503.
//   GET /status.json              mode, node status, generation, last sync, lag, heartbeat.
//   GET /metrics                  Prometheus text format.
// The load balancer's two pages (and HEAD) are open to all. /status.json and /metrics show
// their details only to a request with `Authorization: Bearer <[status] token>` (none when no
// token is set): the details are /status.json's superseded reason, generation_started_by and
// each sync's trigger, peer and error (paths, table names, PostgreSQL's messages) and its
// per-Secondary slots, and /metrics' per-slot series (labelled slot and node: they name peers).
// Without the header the plain page is served ("details": false); with a wrong token, 401.
// The pages are pure functions of a snapshot of the node (tested without a server); the server
// reads a fresh snapshot for every request, so a CLI change shows at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/config/settings.h"
#include "engine/state/node_state.h"

namespace httplib {
class Server;
}

namespace hasync::engine {

struct NodeSnapshot {
  std::string node_name;
  NodeInfo node;
  std::optional<HistoryRow> last;                        // the newest sync of any result
  std::optional<HistoryRow> last_ok;                     // the newest successful one
  std::vector<std::pair<std::string, int64_t>> results;  // history rows per result
  int heartbeat_failures = 0;                            // consecutive, now
  int64_t heartbeat_failures_total = 0;
  std::vector<std::pair<std::string, uint64_t>> slots;  // Primary: WAL each hasync slot retains
  // A Primary's daemon has not yet asked its peer whether another Primary took over (it does
  // at start): until then it must not take traffic as if nothing had happened.
  bool peer_unchecked = false;
  // [failover] etcd, as the daemon's lease loop sees it.
  struct Etcd {
    bool enabled = false;
    std::string not_serving;  // "" when etcd lets this node serve
    bool lease_valid = false;
    int64_t epoch = 0;
    std::string holder;
    std::string problem;
  } etcd;
  int64_t now_ms = 0;
};

struct Page {
  int code = 200;
  std::string content_type = "text/plain";
  std::string body;
};

struct PageOptions {
  bool details = true;  // the server passes false unless the request carried the token
};

// The load balancer's pages: the reasons they give (peer-chosen names) are HTML-escaped.
Page StatusPage(const NodeSnapshot& n);                              // /status/status.html
Page HaStatusPage(const NodeSnapshot& n);                            // /hastatus.html
Page JsonPage(const NodeSnapshot& n, const PageOptions& o = {});     // /status.json
Page MetricsPage(const NodeSnapshot& n, const PageOptions& o = {});  // /metrics

// The HTTP(S) server ([status] listen, lb_listen, tls_cert, tls_key, token), each listener on a
// thread of its own. On `listen`, every page; each open connection gets a worker of its own (up
// to 64 at once), so a few slow or long-lived connections do not queue the load balancer's
// probes behind them. On `lb_listen` (when set), only the load balancer's two pages (anything
// else is 404), with the same TLS, a small pool of its own (up to 8 workers) and a 2 s read
// timeout: clients of `listen`, however many and however slow, cannot starve its probes.
class StatusServer {
 public:
  using Source = std::function<Result<NodeSnapshot>()>;
  // Binds now (a busy port or a bad certificate is an error here, not later).
  // REQUIRES: s.listen or s.lb_listen is set.
  static Result<std::unique_ptr<StatusServer>> Start(const StatusSettings& s, Source source);
  ~StatusServer();                          // stops and joins
  int port() const { return port_; }        // listen's; 0 when it is off
  int lb_port() const { return lb_port_; }  // lb_listen's; 0 when it is off

 private:
  StatusServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  int lb_port_ = 0;
};

// Registers the pages' routes on `server`, each answering from a fresh snapshot of `source`:
// what Start serves on `listen`, and what fuzz/status_pages_fuzzer.cc drives without a socket.
// token: the `[status] token` the details need ("": details are off).
void AddStatusRoutes(httplib::Server& server, StatusServer::Source source,
                     const std::string& token);

// Registers only the load balancer's two pages (open to all): what Start serves on `lb_listen`.
void AddLoadBalancerRoutes(httplib::Server& server, StatusServer::Source source);

}  // namespace hasync::engine
