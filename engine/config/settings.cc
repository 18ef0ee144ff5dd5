// Settings parsing with toml++; the one adapter for its parse errors.
#include "engine/config/settings.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <thread>

#include <toml++/toml.h>

#include "common/env.h"

namespace hasync::engine {
namespace {

Status Bad(const std::string& key, const std::string& what) {
  return Status(Code::kConfig, key + ": " + what);
}

Status CheckKeys(const toml::table& t, const std::string& section,
                 const std::set<std::string>& allowed) {
  for (const auto& [k, v] : t) {
    if (!allowed.count(std::string(k.str()))) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return Bad(section + "." + std::string(k.str()), "unknown key (known: " + list + ")");
    }
  }
  return Status::Ok();
}

Result<std::string> GetString(const toml::table& t, const std::string& section,
                              const std::string& key, bool required, std::string fallback = "") {
  const toml::node* n = t.get(key);
  if (n == nullptr) {
    if (required) return Bad(section + "." + key, "is required");
    return fallback;
  }
  if (!n->is_string()) return Bad(section + "." + key, "must be a string");
  return std::string(n->as_string()->get());
}

Result<std::vector<std::string>> GetStrings(const toml::table& t, const std::string& where,
                                            const std::string& key) {
  std::vector<std::string> out;
  const toml::node* n = t.get(key);
  if (n == nullptr) return out;
  if (!n->is_array()) return Bad(where + "." + key, "must be a list of strings");
  for (const auto& item : *n->as_array()) {
    if (!item.is_string()) return Bad(where + "." + key, "must be a list of strings");
    out.push_back(std::string(item.as_string()->get()));
  }
  return out;
}

bool ValidRootName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

Status ParseNode(const toml::table& t, Settings& s) {
  HASYNC_RETURN_IF_ERROR(
      CheckKeys(t, "node", {"name", "state_dir", "software_version", "software_version_file"}));
  HASYNC_ASSIGN_OR_RETURN(s.node_name, GetString(t, "node", "name", true));
  if (!ValidRootName(s.node_name)) {
    return Bad("node.name", "'" + s.node_name + "' must be 1-64 letters, digits, '-', '_' or '.'");
  }
  HASYNC_ASSIGN_OR_RETURN(s.state_dir, GetString(t, "node", "state_dir", true));
  if (s.state_dir.empty() || s.state_dir[0] != '/') {
    return Bad("node.state_dir", "must be an absolute path");
  }
  HASYNC_ASSIGN_OR_RETURN(s.software_version,
                          GetString(t, "node", "software_version", false, HASYNC_VERSION));
  HASYNC_ASSIGN_OR_RETURN(std::string vfile, GetString(t, "node", "software_version_file", false));
  if (!vfile.empty()) {
    if (t.get("software_version")) {
      return Bad("node.software_version_file", "give software_version or the file, not both");
    }
    HASYNC_ASSIGN_OR_RETURN(Env * env, Env::Default());
    auto text = ReadFileToString(*env, vfile);
    if (!text.ok()) return Bad("node.software_version_file", text.status().message());
    std::string v = *text;
    while (!v.empty() && isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
    if (v.empty()) return Bad("node.software_version_file", vfile + " is empty");
    s.software_version = v;
  }
  return Status::Ok();
}

Status ParseFiles(const toml::node& n, Settings& s) {
  if (!n.is_array_of_tables()) return Bad("files", "must be [[files]] blocks");
  std::set<std::string> names;
  size_t i = 0;
  for (const auto& item : *n.as_array()) {
    std::string where = "files[" + std::to_string(i++) + "]";
    const toml::table& t = *item.as_table();
    HASYNC_RETURN_IF_ERROR(CheckKeys(t, where, {"name", "root", "include", "exclude"}));
    FileRootSettings r;
    HASYNC_ASSIGN_OR_RETURN(r.name, GetString(t, where, "name", true));
    if (!ValidRootName(r.name)) {
      return Bad(where + ".name", "'" + r.name + "' must be 1-64 letters, digits, '-', '_' or '.'");
    }
    if (!names.insert(r.name).second) return Bad(where + ".name", "'" + r.name + "' is used twice");
    HASYNC_ASSIGN_OR_RETURN(r.root, GetString(t, where, "root", true));
    if (r.root.empty() || r.root[0] != '/') return Bad(where + ".root", "must be an absolute path");
    while (r.root.size() > 1 && r.root.back() == '/') r.root.pop_back();
    HASYNC_ASSIGN_OR_RETURN(r.include, GetStrings(t, where, "include"));
    HASYNC_ASSIGN_OR_RETURN(r.exclude, GetStrings(t, where, "exclude"));
    s.roots.push_back(std::move(r));
  }
  return Status::Ok();
}

Result<bool> GetBool(const toml::table& t, const std::string& section, const std::string& key,
                     bool fallback);

Status ParseSync(const toml::table& t, Settings& s) {
  HASYNC_RETURN_IF_ERROR(CheckKeys(t, "sync",
                                   {"compression", "threads", "max_clock_skew_s", "verify",
                                    "max_rate", "owner", "track_changes", "full_scan_every"}));
  HASYNC_ASSIGN_OR_RETURN(s.track_changes, GetBool(t, "sync", "track_changes", s.track_changes));
  HASYNC_ASSIGN_OR_RETURN(std::string every, GetString(t, "sync", "full_scan_every", false, "1h"));
  HASYNC_ASSIGN_OR_RETURN(s.full_scan_every_ms, ParseDuration(every, "sync.full_scan_every"));
  if (const toml::node* n = t.get("max_rate")) {
    if (n->is_integer() && n->as_integer()->get() >= 0) {
      HASYNC_ASSIGN_OR_RETURN(s.max_rate,
                              ParseRate(std::to_string(n->as_integer()->get()), "sync.max_rate"));
    } else if (n->is_string()) {
      HASYNC_ASSIGN_OR_RETURN(s.max_rate, ParseRate(n->as_string()->get(), "sync.max_rate"));
    } else {
      return Bad("sync.max_rate", "must be a string like \"100Mbit\" or a number of bytes");
    }
  }
  HASYNC_ASSIGN_OR_RETURN(s.owner, GetString(t, "sync", "owner", false, s.owner));
  if (s.owner != "id" && s.owner != "name") {
    return Bad("sync.owner", "must be \"id\" or \"name\", not \"" + s.owner + "\"");
  }
  HASYNC_ASSIGN_OR_RETURN(s.verify, GetString(t, "sync", "verify", false, s.verify));
  if (s.verify != "none" && s.verify != "counts" && s.verify != "sample" && s.verify != "full") {
    return Bad("sync.verify",
               "must be \"none\", \"counts\", \"sample\" or \"full\", not \"" + s.verify + "\"");
  }
  if (const toml::node* n = t.get("max_clock_skew_s")) {
    if (!n->is_integer() || n->as_integer()->get() < 1 || n->as_integer()->get() > 86400) {
      return Bad("sync.max_clock_skew_s", "must be a whole number of seconds from 1 to 86400");
    }
    s.max_clock_skew_s = n->as_integer()->get();
  }
  HASYNC_ASSIGN_OR_RETURN(std::string c, GetString(t, "sync", "compression", false, "auto"));
  using Mode = transport::CompressionOptions::Mode;
  if (c == "auto") {
    s.compression = {Mode::kAuto, 1};
  } else if (c == "off") {
    s.compression = {Mode::kOff, 0};
  } else if (c.size() <= 2 && !c.empty() && std::all_of(c.begin(), c.end(), ::isdigit) &&
             std::stoi(c) >= 1 && std::stoi(c) <= 19) {
    s.compression = {Mode::kLevel, std::stoi(c)};
  } else {
    return Bad("sync.compression",
               "must be \"auto\", \"off\" or a zstd level \"1\"..\"19\", not \"" + c + "\"");
  }
  if (const toml::node* n = t.get("threads")) {
    if (!n->is_integer() || n->as_integer()->get() < 0 || n->as_integer()->get() > 256) {
      return Bad("sync.threads", "must be a whole number from 0 (one per core) to 256");
    }
    s.threads = static_cast<unsigned>(n->as_integer()->get());
  }
  return Status::Ok();
}

Status ParseSecondary(const toml::table& t, Settings& s) {
  HASYNC_RETURN_IF_ERROR(CheckKeys(t, "secondary", {"primary", "start_time", "run_every"}));
  HASYNC_ASSIGN_OR_RETURN(s.primary, GetString(t, "secondary", "primary", false));
  if (!s.primary.empty() && !ValidHostName(s.primary)) {
    return Bad("secondary.primary", "'" + s.primary + "' is not a host name or address");
  }
  HASYNC_ASSIGN_OR_RETURN(std::string start,
                          GetString(t, "secondary", "start_time", false, "01:00"));
  HASYNC_ASSIGN_OR_RETURN(s.start_minute, ParseStartTime(start, "secondary.start_time"));
  HASYNC_ASSIGN_OR_RETURN(std::string every, GetString(t, "secondary", "run_every", false, "60m"));
  HASYNC_ASSIGN_OR_RETURN(s.run_every_s, ParseRunEvery(every, "secondary.run_every"));
  return Status::Ok();
}

Status ParseHa(const toml::table& t, Settings& s) {
  HASYNC_RETURN_IF_ERROR(
      CheckKeys(t, "ha", {"enabled", "mode", "node_status", "promote_hook", "peer"}));
  HASYNC_ASSIGN_OR_RETURN(s.ha.peer, GetString(t, "ha", "peer", false));
  if (!s.ha.peer.empty() && !ValidHostName(s.ha.peer)) {
    return Bad("ha.peer", "'" + s.ha.peer + "' is not a host name or address");
  }
  if (const toml::node* n = t.get("enabled")) {
    if (!n->is_boolean()) return Bad("ha.enabled", "must be true or false");
    s.ha.enabled = n->as_boolean()->get();
  }
  HASYNC_ASSIGN_OR_RETURN(s.ha.mode, GetString(t, "ha", "mode", false, "secondary"));
  if (s.ha.mode != "primary" && s.ha.mode != "secondary") {
    return Bad("ha.mode", "must be \"primary\" or \"secondary\", not \"" + s.ha.mode + "\"");
  }
  HASYNC_ASSIGN_OR_RETURN(s.ha.node_status, GetString(t, "ha", "node_status", false, "standby"));
  if (s.ha.node_status != "standby" && s.ha.node_status != "active") {
    return Bad("ha.node_status",
               "must be \"standby\" or \"active\", not \"" + s.ha.node_status + "\"");
  }
  HASYNC_ASSIGN_OR_RETURN(s.ha.promote_hook, GetString(t, "ha", "promote_hook", false));
  return Status::Ok();
}

Result<bool> GetBool(const toml::table& t, const std::string& section, const std::string& key,
                     bool fallback) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return fallback;
  if (!n->is_boolean()) return Bad(section + "." + key, "must be true or false");
  return n->as_boolean()->get();
}

// [failover]'s etcd keys (issue 16).
Status ParseFailoverEtcd(const toml::table& t, FailoverSettings& f) {
  HASYNC_ASSIGN_OR_RETURN(std::string etcd, GetString(t, "failover", "etcd", false));
  if (!etcd.empty()) {
    HASYNC_ASSIGN_OR_RETURN(f.etcd, ParseEtcdEndpoints(etcd, "failover.etcd"));
  }
  if (const toml::node* n = t.get("lease_ttl")) {
    if (!n->is_integer() || n->as_integer()->get() < 5 || n->as_integer()->get() > 3600) {
      return Bad("failover.lease_ttl", "must be a whole number of seconds from 5 to 3600");
    }
    f.lease_ttl_s = n->as_integer()->get();
  }
  HASYNC_ASSIGN_OR_RETURN(f.etcd_prefix,
                          GetString(t, "failover", "etcd_prefix", false, f.etcd_prefix));
  bool prefix_ok = f.etcd_prefix.size() >= 2 && f.etcd_prefix.size() <= 200 &&
                   f.etcd_prefix.front() == '/' && f.etcd_prefix.back() == '/';
  for (char c : f.etcd_prefix) prefix_ok = prefix_ok && c > ' ' && c != 0x7f;
  if (!prefix_ok) {
    return Bad("failover.etcd_prefix",
               "'" + f.etcd_prefix + "' must start and end with '/', without spaces or controls");
  }
  HASYNC_ASSIGN_OR_RETURN(f.cluster, GetString(t, "failover", "cluster", false, f.cluster));
  if (!ValidRootName(f.cluster)) {
    return Bad("failover.cluster",
               "'" + f.cluster + "' must be 1-64 letters, digits, '-', '_' or '.'");
  }
  if (const toml::node* n = t.get("priority")) {
    if (!n->is_integer() || n->as_integer()->get() < -1000 || n->as_integer()->get() > 1000) {
      return Bad("failover.priority", "must be a whole number from -1000 to 1000");
    }
    f.priority = static_cast<int>(n->as_integer()->get());
  }
  return Status::Ok();
}

Status ParseFailover(const toml::table& t, Settings& s) {
  HASYNC_RETURN_IF_ERROR(CheckKeys(
      t, "failover",
      {"heartbeat_interval", "failures_before_failover", "recheck_interval", "if_failure_detected",
       "witness_url", "etcd", "lease_ttl", "etcd_prefix", "cluster", "priority"}));
  FailoverSettings& f = s.failover;
  HASYNC_ASSIGN_OR_RETURN(std::string hb,
                          GetString(t, "failover", "heartbeat_interval", false, "10s"));
  HASYNC_ASSIGN_OR_RETURN(f.heartbeat_interval_ms,
                          ParseDuration(hb, "failover.heartbeat_interval"));
  HASYNC_ASSIGN_OR_RETURN(std::string re,
                          GetString(t, "failover", "recheck_interval", false, "5s"));
  HASYNC_ASSIGN_OR_RETURN(f.recheck_interval_ms, ParseDuration(re, "failover.recheck_interval"));
  if (const toml::node* n = t.get("failures_before_failover")) {
    if (!n->is_integer() || n->as_integer()->get() < 1 || n->as_integer()->get() > 100) {
      return Bad("failover.failures_before_failover", "must be a whole number from 1 to 100");
    }
    f.failures_before_failover = static_cast<int>(n->as_integer()->get());
  }
  HASYNC_ASSIGN_OR_RETURN(std::string action,
                          GetString(t, "failover", "if_failure_detected", false, "promote"));
  if (action != "promote" && action != "keep-standby") {
    return Bad("failover.if_failure_detected",
               "must be \"promote\" (Promote to Primary) or \"keep-standby\" (Keep in "
               "Standby), not \"" +
                   action + "\"");
  }
  f.promote = action == "promote";
  HASYNC_ASSIGN_OR_RETURN(f.witness_url, GetString(t, "failover", "witness_url", false));
  if (!f.witness_url.empty() && f.witness_url.rfind("http://", 0) != 0 &&
      f.witness_url.rfind("https://", 0) != 0) {
    return Bad("failover.witness_url", "must be an http:// or https:// URL");
  }
  return ParseFailoverEtcd(t, f);
}

Status ParseNotify(const toml::table& t, Settings& s) {
  HASYNC_RETURN_IF_ERROR(CheckKeys(t, "notify",
                                   {"email", "from", "smtp_url", "on_sync_completion", "on_failure",
                                    "command", "retry_interval"}));
  NotifySettings& n = s.notify;
  HASYNC_ASSIGN_OR_RETURN(n.email, GetString(t, "notify", "email", false));
  HASYNC_ASSIGN_OR_RETURN(n.from, GetString(t, "notify", "from", false));
  for (const auto& [key, value] : {std::pair{"notify.email", &n.email}, {"notify.from", &n.from}}) {
    if (value->empty()) continue;
    size_t at = value->find('@');
    bool ok = at != std::string::npos && at > 0 && at + 1 < value->size() &&
              value->find_first_of(" <>,;\r\n\"") == std::string::npos;
    if (!ok) return Bad(key, "'" + *value + "' is not an email address (name@domain)");
  }
  HASYNC_ASSIGN_OR_RETURN(n.smtp_url, GetString(t, "notify", "smtp_url", false, n.smtp_url));
  if (n.smtp_url.rfind("smtp://", 0) != 0 && n.smtp_url.rfind("smtps://", 0) != 0) {
    return Bad("notify.smtp_url", "must be an smtp:// or smtps:// URL");
  }
  HASYNC_ASSIGN_OR_RETURN(n.on_sync_completion,
                          GetBool(t, "notify", "on_sync_completion", n.on_sync_completion));
  HASYNC_ASSIGN_OR_RETURN(n.on_failure, GetBool(t, "notify", "on_failure", n.on_failure));
  HASYNC_ASSIGN_OR_RETURN(n.command, GetString(t, "notify", "command", false));
  HASYNC_ASSIGN_OR_RETURN(std::string retry,
                          GetString(t, "notify", "retry_interval", false, "30s"));
  HASYNC_ASSIGN_OR_RETURN(n.retry_ms, ParseDuration(retry, "notify.retry_interval"));
  return Status::Ok();
}

// A listener's address: host:port with a port from 1 to 65535, or "" (off).
Status CheckListen(const std::string& key, const std::string& v) {
  if (v.empty()) return Status::Ok();
  size_t colon = v.rfind(':');
  bool ok =
      colon != std::string::npos && colon > 0 && colon + 1 < v.size() && v.size() - colon - 1 <= 5;
  for (size_t i = colon + 1; ok && i < v.size(); ++i) {
    ok = isdigit(static_cast<unsigned char>(v[i]));
  }
  if (ok) {
    int port = std::stoi(v.substr(colon + 1));
    ok = port >= 1 && port <= 65535 && ValidHostName(v.substr(0, colon));
  }
  if (!ok) return Bad(key, "'" + v + "' must be host:port (or empty: off)");
  return Status::Ok();
}

// lb_listen is a second socket: the same address as listen cannot be bound twice, and neither
// can its port when one of the two is a wildcard address.
Status CheckLbListen(const StatusSettings& st) {
  if (st.lb_listen.empty() || st.listen.empty()) return Status::Ok();
  auto split = [](const std::string& v) {
    size_t colon = v.rfind(':');
    return std::pair{v.substr(0, colon), v.substr(colon + 1)};
  };
  auto [host, port] = split(st.listen);
  auto [lb_host, lb_port] = split(st.lb_listen);
  auto wildcard = [](const std::string& h) { return h == "0.0.0.0" || h == "[::]" || h == "::"; };
  if (port == lb_port && (host == lb_host || wildcard(host) || wildcard(lb_host))) {
    return Bad("status.lb_listen", "'" + st.lb_listen + "' is the address of status.listen ('" +
                                       st.listen +
                                       "'): the load balancer's listener needs its own port");
  }
  return Status::Ok();
}

Status ParseStatus(const toml::table& t, Settings& s) {
  HASYNC_RETURN_IF_ERROR(
      CheckKeys(t, "status", {"listen", "lb_listen", "tls_cert", "tls_key", "token"}));
  StatusSettings& st = s.status;
  HASYNC_ASSIGN_OR_RETURN(st.listen, GetString(t, "status", "listen", false, st.listen));
  HASYNC_RETURN_IF_ERROR(CheckListen("status.listen", st.listen));
  HASYNC_ASSIGN_OR_RETURN(st.lb_listen, GetString(t, "status", "lb_listen", false));
  HASYNC_RETURN_IF_ERROR(CheckListen("status.lb_listen", st.lb_listen));
  HASYNC_RETURN_IF_ERROR(CheckLbListen(st));
  HASYNC_ASSIGN_OR_RETURN(st.tls_cert, GetString(t, "status", "tls_cert", false));
  HASYNC_ASSIGN_OR_RETURN(st.tls_key, GetString(t, "status", "tls_key", false));
  if (st.tls_cert.empty() != st.tls_key.empty()) {
    return Bad("status", "tls_cert and tls_key go together (HTTPS needs both)");
  }
  for (const std::string* p : {&st.tls_cert, &st.tls_key}) {
    if (!p->empty() && (*p)[0] != '/') return Bad("status", "paths must be absolute: " + *p);
  }
  HASYNC_ASSIGN_OR_RETURN(st.token, GetString(t, "status", "token", false));
  bool printable = true;
  for (char c : st.token) printable = printable && c > ' ' && c != 0x7f;
  if (!st.token.empty() && (st.token.size() < 16 || !printable)) {
    return Bad("status.token", "must be at least 16 characters, without spaces or controls");
  }
  return Status::Ok();
}

Status ParseSsh(const toml::table& t, Settings& s) {
  HASYNC_RETURN_IF_ERROR(CheckKeys(t, "ssh",
                                   {"port", "user", "authorized_keys", "known_hosts",
                                    "connect_timeout_s", "ciphers", "keep_connection_s"}));
  if (const toml::node* n = t.get("keep_connection_s")) {
    if (!n->is_integer() || n->as_integer()->get() < 0 || n->as_integer()->get() > 86400) {
      return Bad("ssh.keep_connection_s", "must be a whole number of seconds from 0 to 86400");
    }
    s.ssh.persist_s = static_cast<int>(n->as_integer()->get());
  }
  if (const toml::node* n = t.get("port")) {
    if (!n->is_integer() || n->as_integer()->get() < 1 || n->as_integer()->get() > 65535) {
      return Bad("ssh.port", "must be a port number from 1 to 65535");
    }
    s.ssh.port = static_cast<int>(n->as_integer()->get());
  }
  if (const toml::node* n = t.get("connect_timeout_s")) {
    if (!n->is_integer() || n->as_integer()->get() < 1 || n->as_integer()->get() > 600) {
      return Bad("ssh.connect_timeout_s", "must be a whole number of seconds from 1 to 600");
    }
    s.ssh.connect_timeout_s = static_cast<int>(n->as_integer()->get());
  }
  HASYNC_ASSIGN_OR_RETURN(s.ssh.user, GetString(t, "ssh", "user", false, s.ssh.user));
  if (!ValidRootName(s.ssh.user)) return Bad("ssh.user", "'" + s.ssh.user + "' is not a user name");
  HASYNC_ASSIGN_OR_RETURN(s.ssh.authorized_keys, GetString(t, "ssh", "authorized_keys", false));
  HASYNC_ASSIGN_OR_RETURN(s.ssh.known_hosts, GetString(t, "ssh", "known_hosts", false));
  HASYNC_ASSIGN_OR_RETURN(s.ssh.ciphers, GetString(t, "ssh", "ciphers", false, s.ssh.ciphers));
  for (const std::string* p : {&s.ssh.authorized_keys, &s.ssh.known_hosts}) {
    if (!p->empty() && (*p)[0] != '/') return Bad("ssh", "paths must be absolute: " + *p);
  }
  for (char c : s.ssh.ciphers) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '@' || c == '.' || c == ',')) {
      return Bad("ssh.ciphers", "must be a comma-separated list of OpenSSH cipher names");
    }
  }
  return Status::Ok();
}

bool ValidSchemaName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$')) return false;
  }
  return true;
}

Status ParseDatabase(const toml::table& t, Settings& s) {
  HASYNC_RETURN_IF_ERROR(CheckKeys(t, "database",
                                   {"conninfo", "include_schemas", "exclude_schemas",
                                    "exclude_tables", "max_slot_wal_mb", "pg_dump", "keyless"}));
  DatabaseSettings& d = s.database;
  HASYNC_ASSIGN_OR_RETURN(d.conninfo, GetString(t, "database", "conninfo", true));
  if (d.conninfo.empty()) return Bad("database.conninfo", "must not be empty");
  HASYNC_ASSIGN_OR_RETURN(d.include_schemas, GetStrings(t, "database", "include_schemas"));
  HASYNC_ASSIGN_OR_RETURN(d.exclude_schemas, GetStrings(t, "database", "exclude_schemas"));
  for (const auto* list : {&d.include_schemas, &d.exclude_schemas}) {
    for (const auto& name : *list) {
      if (!ValidSchemaName(name)) {
        return Bad("database", "schema name '" + name +
                                   "' must be 1-63 letters, digits, '_' or '$' (as PostgreSQL "
                                   "folds it)");
      }
      if (name == "hasync" && list == &d.include_schemas) {
        return Bad("database.include_schemas", "'hasync' is this tool's own and never replicated");
      }
    }
  }
  HASYNC_ASSIGN_OR_RETURN(d.exclude_tables, GetStrings(t, "database", "exclude_tables"));
  for (const auto& q : d.exclude_tables) {
    size_t dot = q.find('.');
    if (dot == std::string::npos || !ValidSchemaName(q.substr(0, dot)) ||
        !ValidSchemaName(q.substr(dot + 1))) {
      return Bad("database.exclude_tables",
                 "'" + q + "' must be schema.table, each 1-63 letters, digits, '_' or '$'");
    }
  }
  if (const toml::node* n = t.get("max_slot_wal_mb")) {
    if (!n->is_integer() || n->as_integer()->get() < 1) {
      return Bad("database.max_slot_wal_mb", "must be a whole number of MiB, at least 1");
    }
    d.max_slot_wal_mb = static_cast<uint64_t>(n->as_integer()->get());
  }
  if (t.get("keyless") != nullptr) {
    HASYNC_ASSIGN_OR_RETURN(d.keyless, GetString(t, "database", "keyless", true));
    if (d.keyless != "copy" && d.keyless != "refuse") {
      return Bad("database.keyless", "must be \"copy\" or \"refuse\"");
    }
  }
  HASYNC_ASSIGN_OR_RETURN(d.pg_dump, GetString(t, "database", "pg_dump", false));
  if (!d.pg_dump.empty() && d.pg_dump[0] != '/') {
    return Bad("database.pg_dump", "must be an absolute path");
  }
  return Status::Ok();
}

}  // namespace

Result<Settings> ParseSettings(const std::string& text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    return Status(Code::kConfig, msg.str());
  }
  Settings s;
  s.path = source_name;
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    if (key == "node" || key == "files" || key == "sync" || key == "ssh" || key == "secondary" ||
        key == "database" || key == "ha" || key == "failover" || key == "notify" ||
        key == "status") {
      if (key != "files" && !v.is_table()) return Bad(key, "must be a [" + key + "] section");
      continue;
    }
    return Bad(key,
               "unknown section (known: node, files, sync, ha, secondary, failover, notify, "
               "database, ssh, status)");
  }
  const toml::table* node = root["node"].as_table();
  if (node == nullptr) return Bad("node", "the [node] section is required");
  HASYNC_RETURN_IF_ERROR(ParseNode(*node, s));
  if (const toml::node* f = root.get("files")) HASYNC_RETURN_IF_ERROR(ParseFiles(*f, s));
  if (const toml::table* sync = root["sync"].as_table())
    HASYNC_RETURN_IF_ERROR(ParseSync(*sync, s));
  if (const toml::table* t = root["ssh"].as_table()) HASYNC_RETURN_IF_ERROR(ParseSsh(*t, s));
  if (const toml::table* t = root["secondary"].as_table())
    HASYNC_RETURN_IF_ERROR(ParseSecondary(*t, s));
  if (const toml::table* t = root["ha"].as_table()) HASYNC_RETURN_IF_ERROR(ParseHa(*t, s));
  if (const toml::table* t = root["database"].as_table())
    HASYNC_RETURN_IF_ERROR(ParseDatabase(*t, s));
  if (const toml::table* t = root["failover"].as_table())
    HASYNC_RETURN_IF_ERROR(ParseFailover(*t, s));
  if (const toml::table* t = root["notify"].as_table()) HASYNC_RETURN_IF_ERROR(ParseNotify(*t, s));
  if (const toml::table* t = root["status"].as_table()) HASYNC_RETURN_IF_ERROR(ParseStatus(*t, s));
  if (s.ha.peer.empty()) s.ha.peer = s.primary;
  if (s.notify.from.empty()) s.notify.from = "hasync@" + s.node_name;
  if (s.ssh.known_hosts.empty()) s.ssh.known_hosts = s.state_dir + "/known_hosts";
  if (s.threads == 0) s.threads = std::max(1u, std::thread::hardware_concurrency());
  return s;
}

Result<int64_t> ParseDuration(const std::string& text, const std::string& key) {
  size_t digits = 0;
  while (digits < text.size() && isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit = text.substr(digits);
  int64_t scale = unit == "ms"  ? 1
                  : unit == "s" ? 1000
                  : unit == "m" ? 60000
                  : unit == "h" ? 3600000
                                : 0;
  if (digits == 0 || digits > 8 || scale == 0) {
    return Bad(key, "'" + text + "' must be a number and a unit: 500ms, 10s, 2m or 1h");
  }
  int64_t ms = std::stoll(text.substr(0, digits)) * scale;
  if (ms < 100 || ms > 86400000) return Bad(key, "'" + text + "' must be from 100ms to 24h");
  return ms;
}

Result<uint64_t> ParseRate(const std::string& text, const std::string& key) {
  size_t digits = 0;
  while (digits < text.size() && isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  // Bits per second are 1000-based, as links are sold; bytes come in both kinds.
  static const struct {
    const char* unit;
    uint64_t bits;  // bits per unit
  } kUnits[] = {{"", 8},
                {"B", 8},
                {"kB", 8000},
                {"KB", 8000},
                {"MB", 8000000},
                {"GB", 8000000000},
                {"KiB", 8 << 10},
                {"MiB", 8 << 20},
                {"GiB", 8ull << 30},
                {"bit", 1},
                {"kbit", 1000},
                {"Kbit", 1000},
                {"Mbit", 1000000},
                {"Gbit", 1000000000}};
  uint64_t bits = 0;
  for (const auto& u : kUnits) {
    if (unit == u.unit) bits = u.bits;
  }
  if (digits == 0 || digits > 12 || bits == 0) {
    return Bad(key, "'" + text +
                        "' must be a number and a unit per second: 100Mbit, 1Gbit (bits, "
                        "k/M/G 1000-based), 12MB, 12MiB (bytes), or a plain number of bytes; "
                        "0: unlimited");
  }
  const uint64_t n = std::stoull(text.substr(0, digits));
  if (n > (uint64_t{1} << 50) / bits) return Bad(key, "'" + text + "' is beyond any link");
  if (n != 0 && n * bits < 8) {
    return Bad(key, "'" + text + "' is less than one byte per second (0: unlimited)");
  }
  return n * bits / 8;
}

Result<int64_t> ParseRunEvery(const std::string& text, const std::string& key) {
  size_t digits = 0;
  while (digits < text.size() && isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 6 || digits + 1 != text.size()) {
    return Bad(key, "'" + text + "' must be a number and a unit: 90m, 4h or 1d");
  }
  int64_t n = std::stoll(text.substr(0, digits));
  int64_t unit = text.back() == 'm'   ? 60
                 : text.back() == 'h' ? 3600
                 : text.back() == 'd' ? 86400
                                      : 0;
  if (unit == 0) return Bad(key, "'" + text + "' must end in m (minutes), h (hours) or d (days)");
  int64_t s = n * unit;
  if (s < 60 || s > 30 * 86400) return Bad(key, "'" + text + "' must be from 1m to 30d");
  return s;
}

Result<int> ParseStartTime(const std::string& text, const std::string& key) {
  if (text.size() != 5 || text[2] != ':' || !isdigit(static_cast<unsigned char>(text[0])) ||
      !isdigit(static_cast<unsigned char>(text[1])) ||
      !isdigit(static_cast<unsigned char>(text[3])) ||
      !isdigit(static_cast<unsigned char>(text[4]))) {
    return Bad(key, "'" + text + "' must be HH:MM (GMT), 00:00 to 23:59");
  }
  int h = std::stoi(text.substr(0, 2)), m = std::stoi(text.substr(3, 2));
  if (h > 23 || m > 59) return Bad(key, "'" + text + "' must be HH:MM (GMT), 00:00 to 23:59");
  return h * 60 + m;
}

Result<std::vector<std::string>> ParseEtcdEndpoints(const std::string& text,
                                                    const std::string& key) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string url = text.substr(start, comma - start);
    while (!url.empty() && url.front() == ' ') url.erase(0, 1);
    while (!url.empty() && url.back() == ' ') url.pop_back();
    start = comma + 1;
    std::string scheme = url.rfind("https://", 0) == 0  ? "https://"
                         : url.rfind("http://", 0) == 0 ? "http://"
                                                        : "";
    std::string rest = url.substr(scheme.size());
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    // host:port, the host a name, an IPv4 address or a bracketed IPv6 one.
    size_t colon = rest.rfind(':');
    bool ok = !scheme.empty() && colon != std::string::npos && colon > 0 &&
              colon + 1 < rest.size() && rest.size() - colon - 1 <= 5;
    for (size_t i = colon + 1; ok && i < rest.size(); ++i) {
      ok = isdigit(static_cast<unsigned char>(rest[i]));
    }
    if (ok) {
      std::string host = rest.substr(0, colon);
      if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
      } else {
        ok = host.find(':') == std::string::npos;
      }
      int port = std::stoi(rest.substr(colon + 1));
      ok = ok && port >= 1 && port <= 65535 && ValidHostName(host);
    }
    if (!ok) {
      return Bad(key, "'" + url +
                          "' must be http://host:port or https://host:port (endpoints "
                          "separated by commas)");
    }
    out.push_back(scheme + rest);
  }
  return out;
}

bool ValidNodeName(const std::string& n) { return ValidRootName(n); }

bool ValidHostName(const std::string& h) {
  if (h.empty() || h.size() > 253 || h[0] == '-') return false;
  for (char c : h) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == ':')) return false;
  }
  return true;
}

Result<Settings> LoadSettings(const std::string& path) {
  HASYNC_ASSIGN_OR_RETURN(Env * env, Env::Default());
  auto text = ReadFileToString(*env, path);
  if (!text.ok()) {
    return Status(text.status().code() == Code::kNotFound ? Code::kNotFound : Code::kConfig,
                  "cannot read settings: " + text.status().message() +
                      " (give --config FILE or set HASYNC_CONFIG)");
  }
  return ParseSettings(*text, path);
}

std::string DefaultConfigPath() {
  const char* env = std::getenv("HASYNC_CONFIG");
  return env && *env ? env : "/etc/hasync/hasync.toml";
}

}  // namespace hasync::engine
