// The pages' content, and the cpp-httplib server around them.
#include "engine/node/status_pages.h"

#include <httplib.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "common/log.h"

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
  return "";
}

nlohmann::ordered_json SyncJson(const HistoryRow& h) {
  return {{"id", h.id},
          {"trigger", h.trigger},
          {"peer", h.peer},
          {"result", h.result},
          {"started_ms", h.started},
          {"finished_ms", h.finished},
          {"duration_s", h.duration_s},
          {"bytes_wire", h.bytes_wire},
          {"error", h.error}};
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

}  // namespace

Page StatusPage(const NodeSnapshot& n) {
  std::string why = NotServing(n);
  if (why.empty()) return {200, "text/html", kOk};
  return {503, "text/html", "MOBILEIRON-STATUS: FAILED (" + why + ")"};
}

Page HaStatusPage(const NodeSnapshot& n) {
  const NodeInfo& i = n.node;
  if (!i.superseded.empty()) {
    return {503, "text/html", "MOBILEIRON-STATUS: FAILED (" + i.superseded + ")"};
  }
  if (i.mode == Mode::kPrimary || i.status == NodeStatus::kActive) {
    return {200, "text/html", std::string(kOk) + " (Mode: Primary)"};
  }
  if (!i.ha_enabled) {
    return {503, "text/html", "MOBILEIRON-STATUS: FAILED (HA is disabled on this Secondary)"};
  }
  return {200, "text/html", std::string(kOk) + " (Mode: Standby)"};
}

Page JsonPage(const NodeSnapshot& n) {
  nlohmann::ordered_json j;
  j["node"] = n.node_name;
  j["mode"] = ModeName(n.node.mode);
  j["node_status"] = NodeStatusName(n.node.status);
  j["ha_enabled"] = n.node.ha_enabled;
  j["client_connections"] = n.node.client_connections;
  j["serving"] = NotServing(n).empty();
  j["generation"] = n.node.generation;
  j["generation_started_by"] = n.node.lineage.empty() ? "" : n.node.lineage.back().node;
  j["superseded"] = n.node.superseded;
  j["last_sync"] = n.last ? SyncJson(*n.last) : nlohmann::ordered_json(nullptr);
  j["last_success"] = n.last_ok ? SyncJson(*n.last_ok) : nlohmann::ordered_json(nullptr);
  // Lag: how old the newest successful sync is (the Secondary's data is at least this stale).
  j["lag_s"] = n.last_ok ? nlohmann::ordered_json((n.now_ms - n.last_ok->started) / 1000.0)
                         : nlohmann::ordered_json(nullptr);
  j["heartbeat_failures"] = n.heartbeat_failures;
  return {200, "application/json", j.dump() + "\n"};
}

Page MetricsPage(const NodeSnapshot& n) {
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
  if (!n.slots.empty()) {
    std::string slots;
    for (const auto& [slot, bytes] : n.slots) {
      slots += "hasync_slot_wal_retained_bytes{slot=\"" + Label(slot) + "\"} " +
               std::to_string(bytes) + "\n";
    }
    metric("hasync_slot_wal_retained_bytes", "gauge",
           "WAL each hasync replication slot keeps on this Primary.", slots);
  }
  return {200, "text/plain; version=0.0.4", m};
}

void AddStatusRoutes(httplib::Server& server, StatusServer::Source source) {
  auto serve = [source](Page (*page)(const NodeSnapshot&)) {
    return [source, page](const httplib::Request&, httplib::Response& res) {
      auto snap = source();
      if (!snap.ok()) {
        res.status = 503;
        res.set_content(
            "MOBILEIRON-STATUS: FAILED (node state unreadable: " + snap.status().message() + ")",
            "text/plain");
        return;
      }
      Page p = page(*snap);
      res.status = p.code;
      res.set_content(p.body, p.content_type.c_str());
    };
  };
  // GET handlers answer HEAD too (cpp-httplib sends the headers without the body).
  server.Get("/status/status.html", serve(StatusPage));
  server.Get("/hastatus.html", serve(HaStatusPage));
  server.Get("/status.json", serve(JsonPage));
  server.Get("/metrics", serve(MetricsPage));
}

struct StatusServer::Impl {
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
};

Result<std::unique_ptr<StatusServer>> StatusServer::Start(const StatusSettings& s, Source source) {
  std::unique_ptr<StatusServer> out(new StatusServer());
  out->impl_ = std::make_unique<Impl>();
  auto& server = out->impl_->server;
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
  // Probes and scrapes, not a web site: a few workers, and no keep-alive (cpp-httplib holds a
  // worker per open connection, so a proxy's idle kept-alive connections would starve the
  // load balancer's own checks).
  server->new_task_queue = [] { return new httplib::ThreadPool(4); };
  server->set_keep_alive_max_count(1);
  server->set_read_timeout(5, 0);
  server->set_write_timeout(5, 0);
  AddStatusRoutes(*server, std::move(source));
  size_t colon = s.listen.rfind(':');
  std::string host = s.listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = std::stoi(s.listen.substr(colon + 1));
  if (!server->bind_to_port(host, port)) {
    return Status(Code::kIo, "status: cannot listen on " + s.listen +
                                 " (in use, or not an address of this machine)");
  }
  out->port_ = port;
  out->impl_->thread = std::thread([srv = server.get()] { srv->listen_after_bind(); });
  Log("status")->info("status pages on {}://{}", s.tls_cert.empty() ? "http" : "https", s.listen);
  return out;
}

StatusServer::~StatusServer() {
  if (impl_ && impl_->server) {
    impl_->server->stop();
    if (impl_->thread.joinable()) impl_->thread.join();
  }
}

}  // namespace hasync::engine
