// Both sides of `hasync verify`.
#include "engine/session/verify_session.h"

#include <chrono>
#include <future>
#include <map>
#include <optional>
#include <set>

#include "common/log.h"
#include "engine/db/db_apply.h"
#include "engine/db/db_serve.h"
#include "engine/files/manifests.h"
#include "engine/session/hello.h"
#include "engine/state/node_state.h"
#include "engine/state/sync_lock.h"
#include "snapshot/db_catalog.h"
#include "snapshot/filter.h"
#include "snapshot/pg.h"
#include "snapshot/scanner.h"
#include "verify/table_check.h"

namespace hasync::engine {
namespace {

constexpr size_t kChildrenBatch = 4096;
constexpr size_t kPathsBatch = 4096;
constexpr size_t kHashesBatch = 1 << 18;

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

const FileRootSettings* FindRoot(const Settings& s, const std::string& name) {
  for (const auto& r : s.roots) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

// Scans a root with every file hashed (the cache, `cache_path` unless empty, spares unchanged
// files unless rehash_all).
Result<snapshot::Manifest> HashedScan(Env& env, const Settings& s, const FileRootSettings& r,
                                      const std::string& cache_path, bool rehash_all) {
  auto cache = cache_path.empty() ? Result<snapshot::Manifest>(snapshot::Manifest())
                                  : snapshot::Manifest::Load(env, cache_path);
  if (!cache.ok()) cache = snapshot::Manifest();
  snapshot::ScanOptions o{.filter = snapshot::Filter(r.include, r.exclude),
                          .cache = &*cache,
                          .rehash_all = rehash_all,
                          .hash_uncached = true,
                          .threads = s.threads};
  HASYNC_ASSIGN_OR_RETURN(auto scan, snapshot::ScanRoot(env, r.root, o));
  return std::move(scan.manifest);
}

}  // namespace

bool VerifyReport::equal() const {
  for (const auto& r : roots) {
    if (!r.equal) return false;
  }
  for (const auto& t : tables) {
    if (!t.equal) return false;
  }
  return true;
}

Status ServeVerify(const Settings& s, PeerLink& link, const VerifyRequest& req,
                   const std::string& peer_node) {
  auto log = Log("serve");
  HASYNC_ASSIGN_OR_RETURN(Env * env, Env::Default());
  std::vector<snapshot::Manifest> manifests;
  std::vector<verify::MerkleTree> trees;
  bool cache_usable = true;  // <state_dir>/serve is this account's (engine/files/manifests.h)
  if (Status c = OpenServeCache(*env, s); !c.ok() && !req.roots.empty()) {
    log->warn("not using the serve cache (every file is hashed afresh): {}", c.message());
    cache_usable = false;
  }
  for (size_t i = 0; i < req.roots.size(); ++i) {
    const FileRootSettings* r = FindRoot(s, req.roots[i]);
    if (r == nullptr) {
      return Status(Code::kConfig,
                    "file root '" + req.roots[i] + "' is not configured on the Primary");
    }
    HASYNC_ASSIGN_OR_RETURN(
        snapshot::Manifest m,
        HashedScan(*env, s, *r, cache_usable ? ServeManifestPath(s, r->name) : "", req.rehash_all));
    trees.push_back(verify::MerkleTree::Build(m));
    VerifyRoot root{.root = static_cast<uint32_t>(i),
                    .entries = m.entries().size(),
                    .digest = trees.back().RootDigest()};
    HASYNC_RETURN_IF_ERROR(link.Send(MsgType::kVerifyRoot, root));
    // Only a cache: a failure to save it is not the verify's.
    if (cache_usable) (void)m.Save(*env, ServeManifestPath(s, r->name));
    manifests.push_back(std::move(m));
  }
  if (req.database) {
    if (!s.database.enabled()) {
      return Status(Code::kConfig,
                    "the Secondary verifies a database, and [database] is not set on the Primary");
    }
    // The changes up to a pinned point, then that point's table checks (db_serve.h).
    HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link.Expect(MsgType::kDbRequest));
    HASYNC_ASSIGN_OR_RETURN(DbRequest dreq, DecodeDbRequest(f.payload));
    if (!dreq.pinned || !dreq.repair.empty()) {
      return Status(Code::kProtocol, "verify: a database request that is not a pinned check");
    }
    DbSource db(s, link, peer_node);
    HASYNC_RETURN_IF_ERROR(db.Serve(dreq, {.verify_only = true}));
  }
  for (;;) {
    HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link.Read());
    if (f.type == U8(MsgType::kBye)) break;
    if (f.type != U8(MsgType::kVerifyDirs) && f.type != U8(MsgType::kVerifyBlocksRequest)) {
      return Status(
          Code::kProtocol,
          std::string("expected verify dirs, blocks request or bye, got ") + MsgName(f.type));
    }
    HASYNC_ASSIGN_OR_RETURN(VerifyPaths ask, DecodeVerifyPaths(f.payload));
    if (ask.root >= trees.size()) return Status(Code::kProtocol, "verify: no such root");
    if (f.type == U8(MsgType::kVerifyDirs)) {
      VerifyChildren out{.root = ask.root, .last = false, .children = {}};
      for (const std::string& dir : ask.paths) {
        for (const auto& c : trees[ask.root].Children(dir)) {
          out.children.push_back(c);
          if (out.children.size() == kChildrenBatch) {
            HASYNC_RETURN_IF_ERROR(link.Send(MsgType::kVerifyChildren, out));
            out.children.clear();
          }
        }
      }
      out.last = true;
      HASYNC_RETURN_IF_ERROR(link.Send(MsgType::kVerifyChildren, out));
      continue;
    }
    for (const std::string& path : ask.paths) {
      const snapshot::Entry* e = manifests[ask.root].Find(path);
      VerifyBlocks out{.root = ask.root, .path = path};
      if (e == nullptr || e->type != FileType::kRegular || !e->hashed) {
        out.last = out.missing = true;
        HASYNC_RETURN_IF_ERROR(link.Send(MsgType::kVerifyBlocks, out));
        continue;
      }
      size_t at = 0;
      do {
        size_t n = std::min(kHashesBatch, e->blocks.size() - at);
        out.first = at;
        out.hashes.assign(e->blocks.begin() + at, e->blocks.begin() + at + n);
        at += n;
        out.last = at == e->blocks.size();
        HASYNC_RETURN_IF_ERROR(link.Send(MsgType::kVerifyBlocks, out));
      } while (!out.last);
    }
  }
  log->info("verify: answered");
  return Status::Ok();
}

namespace {

class Verifier {
 public:
  Verifier(const Settings& s, const VerifyOptions& o, Env& env) : s_(s), o_(o), env_(env) {}

  Result<VerifyReport> Run() {
    auto start = std::chrono::steady_clock::now();
    HASYNC_ASSIGN_OR_RETURN(SyncLock lock, SyncLock::Acquire(s_.state_dir));
    HASYNC_ASSIGN_OR_RETURN(ch_, transport::CommandChannel::Start(o_.transport_command));
    link_.emplace(*ch_, "Primary");
    Status st = Session();
    if (!st.ok()) {
      link_->SendError(st);
      return st;
    }
    ch_->CloseWrite();
    HASYNC_RETURN_IF_ERROR(ch_->Finish());
    report_.duration_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return std::move(report_);
  }

 private:
  Status Session() {
    HASYNC_ASSIGN_OR_RETURN(Hello mine, MakeHello(s_));
    HASYNC_ASSIGN_OR_RETURN(Hello peer, ExchangeHello(*link_, mine));
    HASYNC_RETURN_IF_ERROR(CheckPeerHello(mine, peer, s_.max_clock_skew_s));
    report_.primary = peer.node_name;
    VerifyRequest req{.roots = {}, .database = s_.database.enabled(), .rehash_all = o_.rehash_all};
    for (const auto& r : s_.roots) req.roots.push_back(r.name);
    HASYNC_RETURN_IF_ERROR(link_->Send(MsgType::kVerifyRequest, req));
    if (req.database) {
      HASYNC_ASSIGN_OR_RETURN(db_, DbTarget::Open(s_));
      HASYNC_ASSIGN_OR_RETURN(DbRequest dreq, db_->Request({}));
      if (dreq.start_lsn == 0) {
        return Status(Code::kNotFound,
                      "this node's database has not been synced yet: nothing to verify (run a "
                      "sync first)");
      }
      dreq.pinned = true;
      HASYNC_RETURN_IF_ERROR(link_->Send(MsgType::kDbRequest, dreq));
    }
    // This side's scans and table checks run while the Primary does its own.
    auto local = std::async(std::launch::async, [this] { return Local(); });
    std::vector<VerifyRoot> roots;
    Status remote = [&]() -> Status {
      for (size_t i = 0; i < s_.roots.size(); ++i) {
        HASYNC_ASSIGN_OR_RETURN(transport::Frame rf, link_->Expect(MsgType::kVerifyRoot));
        HASYNC_ASSIGN_OR_RETURN(VerifyRoot root, DecodeVerifyRoot(rf.payload));
        if (root.root != i) return Status(Code::kProtocol, "verify roots out of order");
        roots.push_back(root);
      }
      return Status::Ok();
    }();
    Status local_st = local.get();
    HASYNC_RETURN_IF_ERROR(remote);
    HASYNC_RETURN_IF_ERROR(local_st);
    for (size_t i = 0; i < roots.size(); ++i) HASYNC_RETURN_IF_ERROR(CompareRoot(i, roots[i]));
    if (req.database) HASYNC_RETURN_IF_ERROR(VerifyDatabase());
    return link_->SendRaw(MsgType::kBye, {});
  }

  // Applies the Primary's changes up to its pinned point in a transaction, compares this
  // database with the Primary's snapshot at that point, and rolls back: the same point on both
  // sides, and nothing changed here.
  Status VerifyDatabase() {
    report_.database = true;
    Status applied = db_->Receive(*link_);
    if (!applied.ok()) {
      db_->Abort();
      if (applied.code() != Code::kDatabase) return applied;
      // The Primary's changes since the last sync do not apply here: this database differs.
      report_.tables.push_back(
          {.table = "(changes since the last sync)", .equal = false, .what = applied.message()});
      return Status::Ok();
    }
    auto both = verify::ExchangeTableChecks(
        [this]() -> Result<std::vector<TableCheck>> {
          HASYNC_ASSIGN_OR_RETURN(transport::Frame tf, link_->Expect(MsgType::kVerifyTables));
          HASYNC_ASSIGN_OR_RETURN(VerifyTables m, DecodeVerifyTables(tf.payload));
          return std::move(m.tables);
        },
        [this](const std::vector<TableCheck>& ranges) {
          return db_->CheckInTransaction(ranges, {});
        });
    db_->Abort();
    HASYNC_RETURN_IF_ERROR(both.status());
    primary_tables_ = std::move(both->primary);
    local_tables_ = std::move(both->local);
    CompareTables();
    return Status::Ok();
  }

  Status Local() {
    for (const auto& r : s_.roots) {
      HASYNC_ASSIGN_OR_RETURN(
          snapshot::Manifest m,
          HashedScan(env_, s_, r, LocalManifestPath(s_, r.name), o_.rehash_all));
      trees_.push_back(verify::MerkleTree::Build(m));
      manifests_.push_back(std::move(m));
    }
    return Status::Ok();
  }

  Status CompareRoot(size_t i, const VerifyRoot& primary) {
    VerifyReport::Root out{.name = s_.roots[i].name,
                           .equal = true,
                           .primary_entries = primary.entries,
                           .secondary_entries = manifests_[i].entries().size()};
    const verify::MerkleTree& mine = trees_[i];
    if (primary.digest != mine.RootDigest()) {
      std::vector<std::string> pending = {""};
      std::vector<std::string> content;
      while (!pending.empty()) {
        ++out.rounds;
        HASYNC_ASSIGN_OR_RETURN(auto children, AskChildren(static_cast<uint32_t>(i), pending));
        std::vector<std::string> next;
        for (const std::string& dir : pending) {
          verify::CompareChildren(children[dir], mine.Children(dir), out.differences, next,
                                  content);
        }
        pending = std::move(next);
      }
      HASYNC_RETURN_IF_ERROR(CompareBlocks(static_cast<uint32_t>(i), content, out.differences));
      // The digests also differ when the Primary has what this node excludes: only what the
      // descent found counts.
      out.equal = out.differences.empty();
    }
    report_.roots.push_back(std::move(out));
    return Status::Ok();
  }

  // The Primary's children of each dir, grouped by dir.
  Result<std::map<std::string, std::vector<verify::TreeChild>>> AskChildren(
      uint32_t root, const std::vector<std::string>& dirs) {
    std::map<std::string, std::vector<verify::TreeChild>> out;
    const FileRootSettings& cfg = s_.roots[root];
    snapshot::Filter filter(cfg.include, cfg.exclude);
    for (size_t at = 0; at < dirs.size(); at += kPathsBatch) {
      VerifyPaths ask{.root = root};
      ask.paths.assign(dirs.begin() + at, dirs.begin() + std::min(dirs.size(), at + kPathsBatch));
      std::set<std::string> asked(ask.paths.begin(), ask.paths.end());
      HASYNC_RETURN_IF_ERROR(link_->Send(MsgType::kVerifyDirs, ask));
      for (;;) {
        HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link_->Expect(MsgType::kVerifyChildren));
        HASYNC_ASSIGN_OR_RETURN(VerifyChildren batch, DecodeVerifyChildren(f.payload));
        for (auto& c : batch.children) {
          std::string parent = Parent(c.path);
          if (!asked.count(parent)) {
            return Status(Code::kProtocol, "verify: the Primary sent " + c.path +
                                               ", a child of a directory not asked for");
          }
          // What this node excludes is not replicated here: not a difference (as in a sync).
          if (filter.Excluded(c.path, c.type == FileType::kDirectory)) continue;
          out[parent].push_back(std::move(c));
        }
        if (batch.last) break;
      }
    }
    return out;
  }

  Status CompareBlocks(uint32_t root, const std::vector<std::string>& files,
                       std::vector<verify::TreeDifference>& out) {
    for (size_t at = 0; at < files.size(); at += kPathsBatch) {
      VerifyPaths ask{.root = root};
      ask.paths.assign(files.begin() + at,
                       files.begin() + std::min(files.size(), at + kPathsBatch));
      HASYNC_RETURN_IF_ERROR(link_->Send(MsgType::kVerifyBlocksRequest, ask));
      for (const std::string& path : ask.paths) {
        std::vector<uint64_t> hashes;
        for (;;) {
          HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link_->Expect(MsgType::kVerifyBlocks));
          HASYNC_ASSIGN_OR_RETURN(VerifyBlocks b, DecodeVerifyBlocks(f.payload));
          if (b.path != path || b.first != hashes.size()) {
            return Status(Code::kProtocol, "verify: block hashes for " + b.path + " out of order");
          }
          hashes.insert(hashes.end(), b.hashes.begin(), b.hashes.end());
          if (b.missing) hashes.clear();
          if (b.last) break;
        }
        const snapshot::Entry* mine = manifests_[root].Find(path);
        verify::TreeDifference d{.path = path, .what = "content differs", .blocks = {}};
        if (mine != nullptr) d.blocks = verify::DifferingBlocks(hashes, mine->blocks);
        out.push_back(std::move(d));
      }
    }
    return Status::Ok();
  }

  void CompareTables() {
    for (auto& t : verify::CompareTableChecks(primary_tables_, local_tables_)) {
      report_.tables.push_back(std::move(t));
    }
  }

  const Settings& s_;
  const VerifyOptions& o_;
  Env& env_;
  std::unique_ptr<transport::CommandChannel> ch_;
  std::optional<PeerLink> link_;  // on ch_, once started
  std::unique_ptr<DbTarget> db_;
  std::vector<snapshot::Manifest> manifests_;
  std::vector<verify::MerkleTree> trees_;
  std::vector<TableCheck> local_tables_;
  std::vector<TableCheck> primary_tables_;
  VerifyReport report_;
};

}  // namespace

Result<VerifyReport> RunVerify(const Settings& s, const VerifyOptions& o) {
  if (o.transport_command.empty()) {
    return Status(Code::kUsage, "no channel to the Primary: give a host or --transport");
  }
  HASYNC_ASSIGN_OR_RETURN(Env * env, Env::Default());
  Verifier v(s, o, *env);
  return v.Run();
}

Result<RepairPlan> PrepareRepair(const Settings& s, const VerifyReport& v) {
  RepairPlan plan;
  HASYNC_ASSIGN_OR_RETURN(Env * env, Env::Default());
  for (size_t i = 0; i < v.roots.size() && i < s.roots.size(); ++i) {
    if (v.roots[i].equal) continue;
    std::set<std::string> paths;
    for (const auto& d : v.roots[i].differences) paths.insert(d.path);
    std::string cache = LocalManifestPath(s, s.roots[i].name);
    auto m = snapshot::Manifest::Load(*env, cache);
    if (m.ok()) {
      auto& entries = m->mutable_entries();
      std::erase_if(entries, [&](const snapshot::Entry& e) {
        for (const auto& p : paths) {
          if (e.path == p || e.path.rfind(p + "/", 0) == 0) return true;
        }
        return false;
      });
      m->Reindex();
      // Entries left out by hand, not by a scan: the next scan must walk everything, not only
      // the folders changed since the mark (it would not see these paths again).
      m->set_mark({});
      HASYNC_RETURN_IF_ERROR(m->Save(*env, cache));
    }
    plan.files += paths.size();
    plan.notes.push_back(std::to_string(paths.size()) + " paths of " + s.roots[i].name +
                         " re-read and re-synced (only differing blocks move)");
  }
  for (const auto& t : v.tables) {
    if (t.equal) continue;
    size_t dot = t.table.find('.');
    if (t.ranges.empty() || t.key.empty() || dot == std::string::npos) {
      plan.full_db = true;
      plan.notes.push_back(t.table +
                           ": no key range to narrow it to: the database is copied whole");
      continue;
    }
    for (const auto& [from, to] : t.ranges) {
      plan.ranges.push_back({.schema = t.table.substr(0, dot),
                             .name = t.table.substr(dot + 1),
                             .key = t.key,
                             .from = from,
                             .to = to});
    }
    plan.notes.push_back(t.table + ": " + std::to_string(t.ranges.size()) +
                         " key ranges copied again");
  }
  if (plan.full_db) plan.ranges.clear();
  return plan;
}

}  // namespace hasync::engine
