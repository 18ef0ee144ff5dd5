// `hasync sync` (and `failover sync`, the same command recorded with the trigger "failover"):
// pulls the database and file roots from the Primary, over ssh to a trusted host or through
// a --transport command, and prints the summary as text or JSON.
#include <cstdio>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/cli/cli.h"
#include "engine/config/settings.h"
#include "engine/files/progress.h"
#include "engine/node/node.h"
#include "engine/node/trust.h"
#include "engine/session/pull.h"
#include "engine/state/node_state.h"
#include "snapshot/pg.h"

namespace hasync::engine {
namespace {

struct SyncCommandOptions {
  std::string host;       // empty: [secondary] primary
  std::string transport;  // empty: ssh to the host
  bool progress = false;
  Output output;
  bool dry_run = false;
  bool checksum = false;
  bool full_db = false;
  bool force = false;        // sync from an older or diverged generation (invariant 8)
  std::string verify_level;  // empty: [sync] verify
  std::string max_rate;      // empty: [sync] max_rate
};

// The ssh transport to `host`. A host that cannot be reached is recorded in the history as a
// skipped sync (a dry run records nothing), so the Sync History shows the attempt.
Result<std::string> SshTransport(const Settings& s, const std::string& host,
                                 const std::string& trigger, const SyncCommandOptions& o) {
  if (host.empty()) {
    return Status(Code::kUsage,
                  "no Primary to sync from: give --host, set [secondary] primary, or "
                  "give --transport 'COMMAND'");
  }
  auto t = SshTransportTo(s, host);
  if (!t.ok() && !o.dry_run) {
    auto state = NodeState::Open(s);
    if (state.ok()) (void)(*state)->RecordSkipped(trigger, host, t.status(), "failed");
  }
  return t;
}

void PrintJson(const SyncSummary& m, const SyncCommandOptions& o) {
  double mbps = m.duration_s > 0 ? m.bytes_changed / m.duration_s / 1e6 : 0;
  nlohmann::json j = {
      {"result", "ok"},
      {"dry_run", o.dry_run},
      {"files_scanned", m.files_scanned},
      {"bytes_scanned", m.bytes_scanned},
      {"files_changed", m.files_changed},
      {"files_deleted", m.files_deleted},
      {"dirs_created", m.dirs_created},
      {"metadata_changed", m.meta_changed},
      {"bytes_changed", m.bytes_changed},
      {"bytes_wire", m.bytes_wire},
      {"files_vanished", m.vanished},
      {"recovered_interrupted_sync", m.recovered},
      {"duration_s", m.duration_s},
      {"throughput_mb_s", mbps},
      {"generation", m.source_lineage.empty() ? 0 : m.source_lineage.back().number}};
  if (!m.generation_warning.empty()) j["forced"] = m.generation_warning;
  j["verified"] = m.verified.empty() ? "none" : m.verified;
  if (!m.verified.empty()) {
    j["verify_rescanned_roots"] = m.verify_rescanned_roots;
    j["verify_looked_again"] = m.verify_looked_again;
  }
  j["roots_scanned_by_changes"] = m.roots_scanned_by_changes;
  if (o.dry_run) j["would_change"] = m.actions;
  if (m.database) {
    j["database"] = {{"full_copy", m.db.full},
                     {"full_copy_reason", m.db.reason},
                     {"transactions", m.db.transactions},
                     {"changes", m.db.changes},
                     {"position", snapshot::FormatLsn(m.db.end_lsn)},
                     {"slot_retained_bytes", m.db.slot_retained_bytes},
                     {"copied_whole", m.db.copied_whole},
                     {"schema_changes", m.db.schema_changes},
                     {"refreshed", m.db.refreshed}};
  }
  nlohmann::ordered_json phases = nlohmann::ordered_json::object();
  for (const auto& [name, secs] : m.phases) phases[name] = secs;
  j["phases_s"] = phases;
  std::cout << j.dump(2) << std::endl;
}

void PrintText(const SyncSummary& m, const SyncCommandOptions& o) {
  if (o.dry_run) {
    for (const auto& a : m.actions) std::cout << a << "\n";
    std::cout << m.actions.size() << " changes would be made (dry run: nothing changed)\n";
    return;
  }
  if (m.database) {
    if (m.db.full) {
      std::printf("database: full copy (%s), %llu rows, at %s\n", m.db.reason.c_str(),
                  static_cast<unsigned long long>(m.db.changes),
                  snapshot::FormatLsn(m.db.end_lsn).c_str());
    } else {
      std::printf("database: %llu transactions, %llu changes applied, at %s\n",
                  static_cast<unsigned long long>(m.db.transactions),
                  static_cast<unsigned long long>(m.db.changes),
                  snapshot::FormatLsn(m.db.end_lsn).c_str());
      for (const auto& c : m.db.schema_changes) {
        std::printf("database: schema change carried: %s\n", c.c_str());
      }
      for (const auto& t : m.db.copied_whole) std::printf("database: %s copied whole\n", t.c_str());
      for (const auto& v : m.db.refreshed) {
        std::printf("database: materialized view %s refreshed\n", v.c_str());
      }
    }
  }
  std::printf(
      "sync complete: %llu files (%s) on the Primary; %llu created or updated, %llu deleted, "
      "%llu directories created, %llu re-stamped; %s of file data, %s on the wire; %.2f s\n",
      static_cast<unsigned long long>(m.files_scanned), HumanBytes(m.bytes_scanned).c_str(),
      static_cast<unsigned long long>(m.files_changed),
      static_cast<unsigned long long>(m.files_deleted),
      static_cast<unsigned long long>(m.dirs_created),
      static_cast<unsigned long long>(m.meta_changed), HumanBytes(m.bytes_changed).c_str(),
      HumanBytes(m.bytes_wire).c_str(), m.duration_s);
}

int CmdSync(const CommonOptions& common, const SyncCommandOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status(), o.output);
  if (!o.max_rate.empty()) {
    auto rate = ParseRate(o.max_rate, "--max-rate");
    if (!rate.ok()) return Fail(Status(Code::kUsage, rate.status().message()), o.output);
    s->max_rate = *rate;
  }
  const std::string trigger = common.program == Program::kFailover ? "failover" : "manual";
  const bool over_ssh = o.transport.empty();
  const std::string host = o.host.empty() ? s->primary : o.host;
  auto transport = over_ssh ? SshTransport(*s, host, trigger, o) : Result<std::string>(o.transport);
  if (!transport.ok()) return Fail(transport.status(), o.output);
  SyncOptions so{.transport_command = *transport,
                 .dry_run = o.dry_run,
                 .rehash_all = o.checksum,
                 .full_db = o.full_db,
                 .progress = o.progress,
                 .force_generation = o.force,
                 .verify_level = o.verify_level,
                 .env = nullptr};
  auto r = RunNodeSync(*s, so, trigger, over_ssh ? host : "");
  if (!r.ok()) return Fail(over_ssh ? ClassifySshFailure(r.status()) : r.status(), o.output);
  if (o.output.json) {
    PrintJson(*r, o);
  } else {
    PrintText(*r, o);
  }
  return 0;
}

}  // namespace

std::vector<Command> RegisterSync(CLI::App& root, const CommonOptions& common) {
  auto o = std::make_shared<SyncCommandOptions>();
  auto* sync = root.add_subcommand(
      "sync", "pull the database and file roots from the Primary now (run on the Secondary)");
  sync->add_option("host,--host", o->host,
                   "the trusted Primary to pull from over ssh (default: [secondary] primary)");
  sync->add_option("--transport", o->transport,
                   "instead of ssh: a command whose stdin/stdout reach the Primary's `hasync "
                   "serve --stdio` (tests, custom tunnels)");
  sync->add_flag("--progress", o->progress, "show files, bytes, rate and ETA on stderr");
  sync->add_flag("--json", o->output.json, "print the summary as JSON on stdout");
  sync->add_flag("--dry-run", o->dry_run, "list what would change; change nothing");
  sync->add_flag("--checksum", o->checksum,
                 "re-hash every file on both sides instead of trusting the quick check");
  sync->add_flag("--full-db", o->full_db,
                 "copy the Primary's database whole instead of its changes (after a schema "
                 "change, or to repair)");
  sync->add_option(
          "--verify", o->verify_level,
          "verification after this sync: none, counts, sample or full (default: [sync] verify)")
      ->check(CLI::IsMember({"none", "counts", "sample", "full"}));
  sync->add_option("--max-rate", o->max_rate,
                   "bandwidth limit for this sync, e.g. 100Mbit, 12MB, 12MiB or bytes per "
                   "second; 0: unlimited (default: [sync] max_rate)");
  sync->add_flag("--force", o->force,
                 "sync even from a source of an older or diverged generation (split brain): "
                 "what only this node has is discarded, and the sync says what");
  return {{sync, [o, &common] { return CmdSync(common, *o); }}};
}

}  // namespace hasync::engine
