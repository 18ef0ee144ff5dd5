// `hasync verify`: proves this Secondary equals its Primary (files by Merkle tree and block
// hashes, tables by row count and hash) and, with --repair, re-syncs only what differs and
// verifies again. Exits 0 only when everything matches, 22 (kDiffers) when something differs.
#include <cstdio>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/cli/cli.h"
#include "engine/config/settings.h"
#include "engine/node/node.h"
#include "engine/node/trust.h"
#include "engine/session/pull.h"
#include "engine/session/verify_session.h"

namespace hasync::engine {
namespace {

struct VerifyCommandOptions {
  std::string host;       // empty: [secondary] primary
  std::string transport;  // empty: ssh to the host
  bool checksum = false;
  Output output;
  bool repair = false;
};

nlohmann::ordered_json ReportJson(const VerifyReport& v) {
  nlohmann::ordered_json j;
  j["result"] = v.equal() ? "equal" : "differs";
  j["primary"] = v.primary;
  j["duration_s"] = v.duration_s;
  j["roots"] = nlohmann::ordered_json::array();
  for (const auto& root : v.roots) {
    nlohmann::ordered_json diffs = nlohmann::ordered_json::array();
    for (const auto& d : root.differences) {
      nlohmann::ordered_json blocks = nlohmann::ordered_json::array();
      for (const auto& [first, last] : d.blocks) blocks.push_back({first, last});
      diffs.push_back({{"path", d.path}, {"what", d.what}, {"blocks", blocks}});
    }
    j["roots"].push_back({{"name", root.name},
                          {"equal", root.equal},
                          {"primary_entries", root.primary_entries},
                          {"secondary_entries", root.secondary_entries},
                          {"levels_descended", root.rounds},
                          {"differences", diffs}});
  }
  if (v.database) {
    j["tables"] = nlohmann::ordered_json::array();
    for (const auto& t : v.tables) {
      nlohmann::ordered_json ranges = nlohmann::ordered_json::array();
      for (const auto& [from, to] : t.ranges) ranges.push_back({from, to});
      j["tables"].push_back({{"table", t.table},
                             {"primary_rows", t.primary_rows},
                             {"secondary_rows", t.secondary_rows},
                             {"rows_replicated", t.rows_replicated},
                             {"equal", t.equal},
                             {"what", t.what},
                             {"key", t.key},
                             {"key_ranges", ranges}});
    }
  }
  return j;
}

void PrintReport(const VerifyReport& v) {
  for (const auto& root : v.roots) {
    std::printf("files %s: %s (%llu entries on the Primary, %llu here)\n", root.name.c_str(),
                root.equal ? "equal" : "DIFFER",
                static_cast<unsigned long long>(root.primary_entries),
                static_cast<unsigned long long>(root.secondary_entries));
    for (const auto& d : root.differences) {
      std::string blocks;
      for (const auto& [first, last] : d.blocks) {
        blocks += (blocks.empty() ? " blocks " : ", ") + std::to_string(first) +
                  (last != first ? "-" + std::to_string(last) : "");
      }
      std::printf("  %s: %s%s\n", d.path.c_str(), d.what.c_str(), blocks.c_str());
    }
  }
  if (v.database) {
    // The guide's check (Step 7, task 3): row counts on both sides, the device count among them.
    std::printf("%-40s %14s %14s  %s\n", "table", "Primary rows", "Secondary rows", "");
    for (const auto& t : v.tables) {
      std::string what = t.equal ? (t.rows_replicated ? "equal" : "rows not replicated") : t.what;
      for (const auto& [from, to] : t.ranges) {
        what += "; " + t.key + " in [" + (from.empty() ? "start" : from) + ", " +
                (to.empty() ? "end" : to) + ")";
      }
      std::printf("%-40s %14lld %14lld  %s\n", t.table.c_str(),
                  static_cast<long long>(t.primary_rows), static_cast<long long>(t.secondary_rows),
                  what.c_str());
    }
  }
  std::printf("%s: the Secondary %s the Primary (%s), %.2f s\n",
              v.equal() ? "verified" : "DIFFERENCES", v.equal() ? "equals" : "differs from",
              v.primary.c_str(), v.duration_s);
}

int CmdVerify(const CommonOptions& common, const VerifyCommandOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status(), o.output);
  std::string transport = o.transport;
  std::string host = o.host.empty() ? s->primary : o.host;
  if (transport.empty()) {
    if (host.empty()) {
      return Fail(Status(Code::kUsage,
                         "no Primary to verify against: give a host, set [secondary] primary, or "
                         "give --transport 'COMMAND'"),
                  o.output);
    }
    auto t = SshTransportTo(*s, host);
    if (!t.ok()) return Fail(t.status(), o.output);
    transport = *t;
  }
  auto classify = [&](const Status& st) {
    return o.transport.empty() ? ClassifySshFailure(st) : st;
  };
  VerifyOptions vo{.transport_command = transport, .rehash_all = o.checksum};
  auto r = RunVerify(*s, vo);
  if (!r.ok()) return Fail(classify(r.status()), o.output);
  nlohmann::ordered_json out = ReportJson(*r);
  if (!o.output.json) PrintReport(*r);
  if (o.repair && !r->equal()) {
    auto plan = PrepareRepair(*s, *r);
    if (!plan.ok()) return Fail(plan.status(), o.output);
    if (!o.output.json) {
      std::printf("repairing:\n");
      for (const auto& n : plan->notes) std::printf("  %s\n", n.c_str());
    }
    SyncOptions so{.transport_command = transport,
                   .full_db = plan->full_db,
                   .verify_level = "full",
                   .db_repair = plan->ranges};
    auto synced = RunNodeSync(*s, so, "repair", o.transport.empty() ? host : "");
    if (!synced.ok()) return Fail(classify(synced.status()), o.output);
    r = RunVerify(*s, vo);
    if (!r.ok()) return Fail(classify(r.status()), o.output);
    nlohmann::ordered_json after = ReportJson(*r);
    after["repaired"] = {{"before", out},
                         {"notes", plan->notes},
                         {"full_db", plan->full_db},
                         {"key_ranges", plan->ranges.size()},
                         {"paths", plan->files}};
    out = after;
    if (!o.output.json) PrintReport(*r);
  }
  if (o.output.json) std::cout << out.dump(2) << std::endl;
  return r->equal() ? 0 : ExitCode(Code::kDiffers);
}

}  // namespace

std::vector<Command> RegisterVerify(CLI::App& root, const CommonOptions& common) {
  auto o = std::make_shared<VerifyCommandOptions>();
  auto* verify = root.add_subcommand(
      "verify",
      "prove this Secondary equals its Primary: files by Merkle tree and block hashes, every "
      "table by row count and an order-independent hash; exit 0 only when all match (22 when "
      "something differs)");
  verify->add_option("host,--host", o->host,
                     "the trusted Primary to compare with over ssh (default: [secondary] primary)");
  verify->add_option("--transport", o->transport,
                     "instead of ssh: a command reaching its serve side");
  verify->add_flag("--checksum", o->checksum,
                   "re-read every file on both sides instead of trusting the manifest caches");
  verify->add_flag("--json", o->output.json, "print the report as JSON");
  verify->add_flag("--repair", o->repair,
                   "re-sync only what differs (those blocks, those key ranges) in one verified "
                   "sync, then verify again");
  return {{verify, [o, &common] { return CmdVerify(common, *o); }}};
}

}  // namespace hasync::engine
