// Settings: the node's TOML file (DESIGN.md, "Contracts"), validated on load. Every error names
// the key and what it accepts.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "common/status.h"
#include "transport/frame.h"

namespace hasync::engine {

struct FileRootSettings {
  std::string name;  // pairs this root with the peer's root of the same name
  std::string root;  // absolute path
  std::vector<std::string> include;
  std::vector<std::string> exclude;
};

// [ssh]: how this node reaches its peer, and where its peer's key is authorised.
struct SshSettings {
  int port = 22;                // the peer's sshd port
  std::string user = "hasync";  // the account whose authorized_keys runs the serve side
  std::string authorized_keys;  // default: ~user/.ssh/authorized_keys
  std::string known_hosts;      // default: <state_dir>/known_hosts
  int connect_timeout_s = 10;
  int persist_s = 0;  // keep the connection open this long for the next sync (0: do not)
  std::string ciphers =
      "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com";
};

// [database]: this node's PostgreSQL database and what of it is replicated. Empty conninfo: no
// database (files only).
struct DatabaseSettings {
  std::string conninfo;  // libpq connection string, e.g. "host=127.0.0.1 dbname=mdm user=hasync"
  std::vector<std::string> include_schemas;  // empty: every schema
  std::vector<std::string> exclude_schemas;  // "hasync" (this tool's own) is always excluded
  std::vector<std::string> exclude_tables;   // "schema.table": its rows are not replicated
  uint64_t max_slot_wal_mb = 8192;  // warn when the Primary's slot retains more WAL than this
  std::string pg_dump;              // default: the server version's pg_dump
  // Tables without a usable replica identity: "copy" (whole at each sync's pinned point) or
  // "refuse" (the sync fails naming them).
  std::string keyless = "copy";
  bool enabled() const { return !conninfo.empty(); }
};

// [ha]: the node's HA settings; they seed its node state (engine/node_state.h) on first use.
struct HaSettings {
  bool enabled = false;
  std::string mode = "secondary";       // primary | secondary
  std::string node_status = "standby";  // standby | active
  std::string promote_hook;             // run with /bin/sh -c when this node becomes Primary
  // The other node of the pair, a trusted host: the Primary's daemon checks it for a newer
  // generation (split brain). Default: [secondary] primary.
  std::string peer;
};

// [failover]: the guide's Fail Over Controls (Step 6).
struct FailoverSettings {
  int64_t heartbeat_interval_ms = 10000;  // how often the Secondary checks its Primary
  int failures_before_failover = 3;       // consecutive failures before acting
  int64_t recheck_interval_ms = 5000;     // the wait after a failed check
  bool promote = true;                    // If Failure Detected: promote | keep-standby
  std::string witness_url;  // must fail too before promoting (tells a split from a death)
  // etcd as the arbiter (issue 16): empty: not used. Each "http(s)://host:port".
  std::vector<std::string> etcd;
  int64_t lease_ttl_s = 30;  // the leader key's lease (5 or more)
  // The leader key is <etcd_prefix><cluster>/leader.
  std::string etcd_prefix = "/hasync/";
  std::string cluster = "hasync";
  int priority = 0;  // among several Secondaries, the higher is preferred
  // Derived from lease_ttl so that Patroni's rule loop_wait + 2 x retry <= ttl holds
  // (engine/node/leader_lease.h): renew every ttl/3; one etcd call's timeout (ttl - loop_wait)/2.
  int64_t loop_wait_ms() const { return lease_ttl_s * 1000 / 3; }
  // At most 10 s: a call's chain of tries stays well inside the daemon's 60 s stall limit.
  int64_t etcd_retry_ms() const {
    return std::min<int64_t>(10000, (lease_ttl_s * 1000 - loop_wait_ms()) / 2);
  }
  std::string leader_key() const { return etcd_prefix + cluster + "/leader"; }
};

// [notify]: the guide's Notification Settings.
struct NotifySettings {
  std::string email;  // empty: no email
  std::string from;   // default: hasync@<node name>
  std::string smtp_url = "smtp://127.0.0.1:25";
  bool on_sync_completion = false;
  bool on_failure = true;    // a failed sync, or this server becomes Primary
  std::string command;       // receives every event (/bin/sh -c, fields in its environment)
  int64_t retry_ms = 30000;  // a failed delivery is retried after this, then twice as long...
};

// [status]: the load balancer's pages, served by the daemon.
struct StatusSettings {
  std::string listen = "127.0.0.1:8443";  // host:port; empty: no status pages
  // host:port of a second listener that serves only the load balancer's two pages, with workers
  // of its own (engine/node/status_pages.h); empty: off, they are served on `listen` only.
  std::string lb_listen;
  std::string tls_cert;  // HTTPS when set (with tls_key)
  std::string tls_key;
  // Bearer token for the details of /status.json and /metrics (engine/node/status_pages.h);
  // empty: details are not served. At least 16 characters.
  std::string token;
};

struct Settings {
  std::string path;  // the file these came from
  std::string node_name;
  std::string state_dir;
  std::string software_version;
  std::vector<FileRootSettings> roots;
  transport::CompressionOptions compression;
  unsigned threads = 0;           // 0: one per core
  int64_t max_clock_skew_s = 60;  // [sync]: both servers must have the same clock time
  // [sync] max_rate: bytes per second the Secondary reads from the channel (the frames as sent,
  // compressed: hasync's bytes on the wire, without ssh's and TCP's framing); 0: unlimited.
  uint64_t max_rate = 0;
  // [sync] verify: after each sync, none | counts (row counts at the pinned point; the files'
  // paths, types and sizes) | sample (and row hashes in an eighth of the key ranges, another
  // eighth each sync) | full (every row hashed per key range; every file re-read).
  std::string verify = "counts";
  // [sync] owner: "id" (files keep the Primary's numeric user and group ids) or "name" (each
  // id is mapped through its name on the Primary to this node's id of that name; an id whose
  // name is unknown here is kept, as rsync does). Ownership is replicated only as root.
  std::string owner = "id";
  // [sync] track_changes: scans walk only the folders the daemon's change feed reports as
  // changed (engine/files/change_feed.h), and the whole root at least every full_scan_every
  // (writes through mmap raise no inotify event), after any gap, and when no daemon answers.
  bool track_changes = true;
  int64_t full_scan_every_ms = 3600 * 1000;
  std::string primary;         // [secondary] primary: the trusted host to sync from
  int start_minute = 60;       // [secondary] start_time, minutes after 00:00 GMT
  int64_t run_every_s = 3600;  // [secondary] run_every
  HaSettings ha;
  FailoverSettings failover;
  NotifySettings notify;
  StatusSettings status;
  SshSettings ssh;
  DatabaseSettings database;
};

// Loads and validates a settings file. kConfig on any problem, kNotFound when it is missing.
Result<Settings> LoadSettings(const std::string& path);
Result<Settings> ParseSettings(const std::string& text, const std::string& source_name);

// A host name or address (letters, digits, '-', '.', ':'; not starting with '-'): what may
// reach an ssh command line, known_hosts or authorized_keys.
bool ValidHostName(const std::string& h);

// "http://h1:2379,https://h2:2379" -> each URL, checked: http:// or https://, host:port, nothing
// after the port but an optional "/". kConfig naming `key`.
Result<std::vector<std::string>> ParseEtcdEndpoints(const std::string& text,
                                                    const std::string& key);

// A node name ([node] name): 1-64 letters, digits, '-', '_' or '.'.
bool ValidNodeName(const std::string& n);

// "500ms", "10s", "2m", "1h" -> milliseconds (100 ms to 1 day). kConfig naming `key`.
Result<int64_t> ParseDuration(const std::string& text, const std::string& key);
// "100Mbit", "1Gbit" (bits, k/M/G 1000-based), "12MB", "12MiB", "12000000" (bytes), "0"
// (unlimited) -> bytes per second. kConfig naming `key`.
Result<uint64_t> ParseRate(const std::string& text, const std::string& key);
// "90m", "4h", "1d" -> seconds; "01:00" -> minutes after midnight. kConfig naming `key`.
Result<int64_t> ParseRunEvery(const std::string& text, const std::string& key);
Result<int> ParseStartTime(const std::string& text, const std::string& key);

// --config, else $HASYNC_CONFIG, else /etc/hasync/hasync.toml.
std::string DefaultConfigPath();

}  // namespace hasync::engine
