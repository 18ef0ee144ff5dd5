// The pull session, as named steps (Puller::Session): lock, recover, scan locally while the
// Primary scans, the database, list and plan, request, receive and verify into staging, make
// staging durable, commit the journal, roll forward, record the new manifests, confirm, check.
// Until the journal commit nothing outside the staging folders has changed, and any failure
// removes those.
#include "engine/session/pull.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <optional>
#include <set>

#include "common/hash.h"
#include "common/kill_point.h"
#include "common/log.h"
#include "common/path.h"
#include "engine/db/db_apply.h"
#include "engine/files/delta.h"
#include "engine/files/journal_builder.h"
#include "engine/files/list_check.h"
#include "engine/files/manifests.h"
#include "engine/files/owner_names.h"
#include "engine/files/plan.h"
#include "engine/files/progress.h"
#include "engine/files/receiver.h"
#include "engine/files/requests.h"
#include "engine/files/staging.h"
#include "engine/files/tracked_scan.h"
#include "engine/session/hello.h"
#include "engine/state/state_folder.h"
#include "engine/state/sync_lock.h"
#include "snapshot/scanner.h"
#include "verify/table_check.h"

namespace hasync::engine {
namespace {

constexpr uint64_t kWriteQueueBytes = 64 << 20;  // received data waiting for the writers

// One sync from the Secondary's side. Run() is the list of steps; each step is a method below,
// and the parts they delegate to live in engine/files (staging, requests, receiver, journal
// building, manifests, the list check) and engine/db (DbTarget).
class Puller {
 public:
  Puller(const Settings& s, const SyncOptions& o, Env& env)
      : s_(s),
        o_(o),
        env_(env),
        log_(Log("sync")),
        level_(o.verify_level.empty() ? s.verify : o.verify_level),
        staging_(env, RootPaths(s)),
        receiver_(env, staging_,
                  {.threads = s.threads, .queue_bytes = kWriteQueueBytes, .set_owner = Owner()}) {}

  Result<SyncSummary> Run() {
    auto start = std::chrono::steady_clock::now();
    HASYNC_RETURN_IF_ERROR(CheckStateFolder(env_, s_));  // before its journal is trusted
    HASYNC_RETURN_IF_ERROR(CreateDirs(env_, s_.state_dir + "/manifests", 0700));
    HASYNC_ASSIGN_OR_RETURN(SyncLock lock, SyncLock::Acquire(s_.state_dir));
    HASYNC_RETURN_IF_ERROR(Recover());
    Status st = Session();
    if (!st.ok()) {
      if (link_) link_->SendError(st);
      // After the commit point the staged files belong to the journal: keep them.
      if (!committed_) RemoveStaging();
      return st;
    }
    sum_.duration_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return sum_;
  }

 private:
  static std::vector<std::string> RootPaths(const Settings& s) {
    std::vector<std::string> out;
    for (const auto& r : s.roots) out.push_back(r.root);
    return out;
  }
  static bool Owner() { return ::geteuid() == 0; }

  // The steps of a sync, in order.
  Status Session() {
    HASYNC_RETURN_IF_ERROR(CheckRoots());
    // The local scan runs while the channel starts and the Primary scans.
    // Without a database to receive first, the list is asked for as soon as the hellos are
    // exchanged, so that the Primary's scan overlaps this one instead of following it.
    auto local = std::async(std::launch::async, [this] { return ScanLocal(); });
    bool receive_db = db_ && !o_.dry_run;
    Status st = Connect();
    if (st.ok() && !receive_db) st = SendListRequest();
    Status scan_st = local.get();
    HASYNC_RETURN_IF_ERROR(st);
    HASYNC_RETURN_IF_ERROR(scan_st);
    Mark("connect and scan");
    if (receive_db) {
      HASYNC_RETURN_IF_ERROR(ReceiveDatabase());
      HASYNC_RETURN_IF_ERROR(SendListRequest());
    }
    HASYNC_RETURN_IF_ERROR(ListAndPlan());
    if (o_.dry_run) return DryRun();
    HASYNC_RETURN_IF_ERROR(SendRequests());
    Mark("requests");
    HASYNC_RETURN_IF_ERROR(Transfer());
    Mark("transfer");
    HASYNC_RETURN_IF_ERROR(Commit());
    HASYNC_RETURN_IF_ERROR(Confirm());
    // Committed: a difference found now fails the sync in the history and its roots' caches
    // are dropped, so the next sync re-reads and repairs them. The check is local: it runs
    // while the Primary records the sync and its process ends.
    Status verified = VerifyFiles();
    FinishChannel();
    return verified;
  }

  // A journal a crashed sync left is finished (or thrown away) before anything else.
  Status Recover() {
    RecoverOptions ro{.roots = RootPaths(s_), .db_committed_sync = nullptr};
    if (s_.database.enabled()) {
      HASYNC_ASSIGN_OR_RETURN(db_, DbTarget::Open(s_));
      ro.db_committed_sync = [this] { return db_->CommittedSyncId(); };
    }
    HASYNC_ASSIGN_OR_RETURN(Recovery r, RecoverJournal(env_, s_.state_dir, ro));
    sum_.recovered = r.rolled_forward;
    return Status::Ok();
  }

  Status CheckRoots() {
    for (const auto& r : s_.roots) {
      auto info = env_.Stat(r.root);
      if (!info.ok() || info->type != FileType::kDirectory) {
        return Status(Code::kConfig, "file root '" + r.name + "': " + r.root +
                                         " is not an existing directory on this node");
      }
      root_before_.push_back(*info);  // what a discarded journal gives the root back
    }
    return Status::Ok();
  }

  // Ends a phase: its wall time goes into the summary (--json) and the log.
  void Mark(const char* phase) {
    auto now = std::chrono::steady_clock::now();
    double s = std::chrono::duration<double>(now - phase_start_).count();
    phase_start_ = now;
    sum_.phases.emplace_back(phase, s);
    log_->debug("phase {}: {:.3f} s", phase, s);
  }

  Status ScanLocal() {
    roots_.resize(s_.roots.size());
    for (size_t i = 0; i < s_.roots.size(); ++i) {
      const auto& r = s_.roots[i];
      auto cache = snapshot::Manifest::Load(env_, LocalManifestPath(s_, r.name));
      if (!cache.ok()) {
        log_->warn("ignoring damaged manifest cache: {}", cache.status().message());
        cache = snapshot::Manifest();
      }
      snapshot::ScanOptions so{.filter = snapshot::Filter(r.include, r.exclude),
                               .rehash_all = o_.rehash_all,
                               .hash_uncached = true,
                               .threads = s_.threads};
      bool had_xattrs = cache->xattrs_known();
      size_t had_entries = cache->entries().size();
      HASYNC_ASSIGN_OR_RETURN(TrackedScan tracked, ScanTracked(env_, s_, r, so, std::move(*cache)));
      snapshot::ScanResult& scan = tracked.scan;
      // Also a cache from before attributes were kept (format 1): this scan read them all,
      // and the saved manifest spares the next scans that. A new mark is saved too.
      if (scan.stats.hashed_files > 0 || !had_xattrs || tracked.mark_moved ||
          scan.stats.differing > 0 || scan.manifest.entries().size() != had_entries) {
        local_rehashed_ = true;
      }
      if (scan.stats.incremental) {
        ++sum_.roots_scanned_by_changes;
      }
      roots_[i].local = std::move(scan.manifest);
    }
    return Status::Ok();
  }

  Status Connect() {
    if (o_.transport_command.empty()) {
      return Status(Code::kUsage,
                    "no channel to the Primary: give --transport 'COMMAND' (for "
                    "example \"ssh host hasync serve --stdio\")");
    }
    HASYNC_ASSIGN_OR_RETURN(channel_, transport::CommandChannel::Start(o_.transport_command));
    // [sync] max_rate: the Secondary's reads are throttled; the Primary's writes then block on
    // the full pipe and ssh/TCP windows, so the link carries no more (transport/rate_limit.h).
    channel_->LimitReads(s_.max_rate);
    link_.emplace(*channel_, "Primary", s_.compression);
    HASYNC_ASSIGN_OR_RETURN(Hello mine, MakeHello(s_));
    HASYNC_ASSIGN_OR_RETURN(Hello peer, ExchangeHello(*link_, mine));
    HASYNC_RETURN_IF_ERROR(CheckPeerHello(mine, peer, s_.max_clock_skew_s));
    log_->info("connected to {} (software {}, generation {})", peer.node_name,
               peer.software_version, DescribeGeneration(peer.lineage));
    // Invariant 8, before anything is written: the source must not be of an older or
    // diverged generation (split brain) unless the operator forces it.
    HASYNC_ASSIGN_OR_RETURN(std::string warning,
                            CheckGeneration(mine.lineage, peer.lineage, s_.node_name,
                                            peer.node_name, o_.force_generation));
    if (!warning.empty()) {
      log_->warn("{}", warning);
      sum_.generation_warning = warning;
    }
    // The fencing epoch ([failover] etcd): a node that held the leader key before the one this
    // node's data came from is never synced from (a Primary that lost its lease and came back).
    if (peer.epoch < mine.epoch && !o_.force_generation) {
      return Status(Code::kGeneration,
                    "the source " + Printable(peer.node_name) + " is of etcd epoch " +
                        std::to_string(peer.epoch) + ", older than this node's " +
                        std::to_string(mine.epoch) +
                        ": it lost the leader key since (sync from the current Primary, or "
                        "--force to discard this node's newer data)");
    }
    if (o_.judge_source) HASYNC_RETURN_IF_ERROR(o_.judge_source(peer));
    sum_.source_lineage = peer.lineage;
    sum_.source_epoch = peer.epoch;
    peer_node_ = peer.node_name;
    return Status::Ok();
  }

  // The database's part, before the files: applied in a transaction that commits with them.
  Status ReceiveDatabase() {
    HASYNC_RETURN_IF_ERROR(db_->DropSlotFor(peer_node_).status());
    HASYNC_ASSIGN_OR_RETURN(DbRequest req, db_->Request({.force_full = o_.full_db}));
    sum_.db_full_expected = req.force_full || req.start_lsn == 0;
    req.pinned = level_ != "none" || !o_.db_repair.empty();
    req.counts_only = level_ == "counts";
    req.sample = level_ == "sample";
    sample_seed_ = req.SampleSeed();
    req.repair = o_.db_repair;
    HASYNC_RETURN_IF_ERROR(link_->Send(MsgType::kDbRequest, req));
    HASYNC_RETURN_IF_ERROR(db_->Receive(*link_));
    sum_.database = true;
    sum_.db = db_->summary();
    Mark("database");
    if (req.pinned) HASYNC_RETURN_IF_ERROR(VerifyDatabase());
    return Status::Ok();
  }

  Status SendListRequest() {
    ListRequest req{.rehash_all = o_.rehash_all, .owner_names = s_.owner == "name", .roots = {}};
    for (const auto& r : s_.roots) req.roots.push_back(r.name);
    return link_->Send(MsgType::kListRequest, req);
  }

  // The list asked for (SendListRequest) arrives; the plan compares it with this node's scan.
  Status ListAndPlan() {
    HASYNC_RETURN_IF_ERROR(ReceiveList());
    PlanOptions po{.compare_owner = Owner(), .as_root = Owner()};
    for (uint32_t i = 0; i < roots_.size(); ++i) PlanRoot(i, roots_[i], po, actions_);
    Mark("list and plan");
    return Status::Ok();
  }

  Status ReceiveList() {
    SystemNames names;  // [sync] owner = "name": this sync's lookups, cached
    for (;;) {
      HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link_->Read());
      if (f.type == U8(MsgType::kListEnd)) {
        HASYNC_ASSIGN_OR_RETURN(ListEnd end, DecodeListEnd(f.payload));
        if (end.roots.size() != roots_.size())
          return Status(Code::kProtocol, "list end with another number of roots than asked for");
        root_meta_ = std::move(end.roots);
        break;
      }
      if (f.type != U8(MsgType::kListEntries)) return Unexpected(f, "the file list");
      HASYNC_ASSIGN_OR_RETURN(ListEntries m, DecodeListEntries(f.payload));
      if (m.root >= roots_.size())
        return Status(Code::kProtocol, "list entries for an unknown root");
      auto& dst = roots_[m.root].remote;
      for (auto& e : m.entries) dst.push_back(std::move(e));
    }
    for (size_t i = 0; i < roots_.size(); ++i) {
      RootPlan& r = roots_[i];
      HASYNC_RETURN_IF_ERROR(ValidateRemoteList(r.remote));
      // This node's own filters hold for the Primary's list too (the plan, the post-sync check).
      const FileRootSettings& cfg = s_.roots[i];
      size_t dropped = FilterRemoteList(snapshot::Filter(cfg.include, cfg.exclude), r.remote);
      if (dropped > 0) {
        log_->debug("{}: {} of the Primary's entries are excluded here", cfg.name, dropped);
      }
      LocalizeList(r.remote, Owner(), s_.owner == "name" ? &names : nullptr);
      for (const WireEntry& e : r.remote) {
        if (e.type != FileType::kRegular) continue;
        ++sum_.files_scanned;
        sum_.bytes_scanned += e.size;
      }
    }
    return Status::Ok();
  }

  // --dry-run: what would change, and no request.
  Status DryRun() {
    for (const Action& a : actions_)
      sum_.actions.push_back(DescribeAction(a, s_.roots[a.root].name));
    HASYNC_RETURN_IF_ERROR(link_->SendRaw(MsgType::kRequestsEnd, {}));
    receiver_.Start(nullptr);
    HASYNC_RETURN_IF_ERROR(ReceiveData());
    channel_->CloseWrite();
    return channel_->Finish();
  }

  Status SendRequests() {
    bool staged = std::any_of(actions_.begin(), actions_.end(), [](const Action& a) {
      return a.kind == ActionKind::kFile || a.kind == ActionKind::kSymlink ||
             a.kind == ActionKind::kLink;
    });
    if (staged) HASYNC_RETURN_IF_ERROR(staging_.Prepare());
    RequestBatcher batcher;
    for (Action* a : RequestOrder(actions_)) {
      auto job = std::make_unique<FileJob>();
      job->action = a;
      job->target = JoinPath(s_.roots[a->root].root, a->path);
      uint32_t id = static_cast<uint32_t>(receiver_.jobs().size());
      if (!a->in_place) job->staged = staging_.PathFor(a->root, a->path, 'f', id);
      FileRequest r{
          .id = id, .root = a->root, .path = a->path, .kind = a->request, .have_blocks = {}};
      if (a->request == RequestKind::kBlocks) r.have_blocks = a->local->blocks;
      if (a->request == RequestKind::kDelta) {
        auto sig =
            ComputeSignature(env_, a->path, a->local->size, s_.threads, &staging_.Root(a->root));
        if (!sig.ok()) return sig.status().Context("signing " + job->target);
        r.signature = std::move(*sig);
      }
      job->hashes = r.have_blocks;
      receiver_.Add(std::move(job));
      if (auto batch = batcher.Add(r))
        HASYNC_RETURN_IF_ERROR(link_->SendRaw(MsgType::kFileRequests, *batch));
    }
    if (auto batch = batcher.Flush())
      HASYNC_RETURN_IF_ERROR(link_->SendRaw(MsgType::kFileRequests, *batch));
    return link_->SendRaw(MsgType::kRequestsEnd, {});
  }

  Status Transfer() {
    Status st;
    {
      Progress progress(o_.progress, receiver_.total_bytes(), receiver_.jobs().size());
      receiver_.Start(&progress);
      st = ReceiveData();
      receiver_.DetachProgress();
    }
    sum_.bytes_changed = receiver_.bytes_changed();
    sum_.vanished = receiver_.vanished();
    HASYNC_RETURN_IF_ERROR(st);
    HASYNC_RETURN_IF_ERROR(receiver_.CloseRedo());
    return StageSymlinks();
  }

  // Hands each data message to the receiver until the Primary's done.
  Status ReceiveData() {
    for (;;) {
      HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link_->Read());
      switch (static_cast<MsgType>(f.type)) {
        case MsgType::kFileData:
          HASYNC_RETURN_IF_ERROR(
              receiver_.OnData(std::make_shared<std::vector<std::byte>>(std::move(f.payload))));
          break;
        case MsgType::kFileDelta:
          HASYNC_RETURN_IF_ERROR(
              receiver_.OnDelta(std::make_shared<std::vector<std::byte>>(std::move(f.payload))));
          break;
        case MsgType::kFileHole:
          HASYNC_RETURN_IF_ERROR(receiver_.OnHole(f.payload));
          break;
        case MsgType::kFileDone:
          HASYNC_RETURN_IF_ERROR(receiver_.OnDone(f.payload));
          break;
        case MsgType::kDone:
          HASYNC_RETURN_IF_ERROR(DecodeDone(f.payload).status());
          return receiver_.OnEnd();
        default:
          return Status(Code::kProtocol, std::string("unexpected ") + MsgName(f.type) +
                                             " while receiving file data");
      }
    }
  }

  // Symlinks are created in staging so the roll-forward only renames.
  Status StageSymlinks() {
    size_t n = 0;
    for (Action& a : actions_) {
      if (a.kind != ActionKind::kSymlink) continue;
      std::string staged = staging_.PathFor(a.root, a.path, 'l', n++);
      HASYNC_ASSIGN_OR_RETURN(std::string rel, staging_.Rel(a.root, staged));
      const RootDir& root = staging_.Root(a.root);
      HASYNC_RETURN_IF_ERROR(SymlinkBeneath(root, a.remote->link_target, rel));
      HASYNC_ASSIGN_OR_RETURN(
          MetaOutcome m, SetMetaBeneath(root, rel, FileType::kSymlink,
                                        MetaFor(*a.remote, a.remote->mtime_ns, true, Owner())));
      if (m != MetaOutcome::kApplied) {
        return Status(Code::kUnsafePath, "the staged symlink " + staged + " was replaced");
      }
      symlink_staged_[&a] = staged;
    }
    return Status::Ok();
  }

  void RemoveStaging() {
    receiver_.Stop();  // no task may still use a job; staged files closed first
    Status st = staging_.Remove();
    if (!st.ok()) log_->warn("could not remove the staging folders: {}", st.ToString());
  }

  Journal BuildSyncJournal() {
    std::vector<std::string> roots = RootPaths(s_);
    BuiltJournal b = BuildJournal({.sync_id = sync_id_,
                                   .db_commit = db_ != nullptr && sum_.database,
                                   .set_owner = Owner(),
                                   .roots = &roots,
                                   .staging = &staging_,
                                   .actions = &actions_,
                                   .jobs = &receiver_.jobs(),
                                   .symlink_staged = &symlink_staged_});
    sum_.files_changed += b.counts.files_changed;
    sum_.files_deleted += b.counts.files_deleted;
    sum_.dirs_created += b.counts.dirs_created;
    sum_.meta_changed += b.counts.meta_changed;
    for (uint32_t i = 0; i < roots.size(); ++i) {
      const FileInfo& was = root_before_[i];
      b.journal.root_meta.push_back(
          RootMetaChange{.root = i,
                         .after = RootMetaAfter(i),
                         .before = {.mode = was.mode, .mtime_ns = was.mtime_ns}});
    }
    return std::move(b.journal);
  }

  // The Primary's metadata of root i, for the end of the sync. Not root here: the root keeps
  // u+rwx whatever the Primary's mode (the next sync makes its staging folder inside it). With
  // owner = "name" the root keeps its owner: the list carries the root's ids, not its names.
  MetaOptions RootMetaAfter(uint32_t i) const {
    const RootMeta& r = root_meta_[i];
    return MetaOptions{.set_mode = true,
                       .mode = Owner() ? r.mode : (r.mode | 0700),
                       .set_owner = Owner() && s_.owner == "id",
                       .uid = r.uid,
                       .gid = r.gid,
                       .set_mtime = true,
                       .mtime_ns = r.mtime_ns};
  }

  // A sync without journal operations: the roots' own metadata once the staging is gone.
  Status ApplyRootsMeta() {
    for (uint32_t i = 0; i < s_.roots.size(); ++i) {
      HASYNC_ASSIGN_OR_RETURN(RootDir dir, RootDir::Open(s_.roots[i].root));
      HASYNC_RETURN_IF_ERROR(ApplyRootMeta(dir, RootMetaAfter(i)));
    }
    return Status::Ok();
  }

  // Durable staging, the journal (the commit point without a database), the database's commit
  // (the commit point with one), the roll-forward, the new manifests.
  Status Commit() {
    Journal jn = BuildSyncJournal();
    if (jn.ops.empty()) {
      RemoveStaging();
      if (jn.db_commit) {
        HASYNC_RETURN_IF_ERROR(db_->Commit(jn.sync_id));
        Mark("commit");
      }
      HASYNC_RETURN_IF_ERROR(ApplyRootsMeta());
      return SaveManifests(false);
    }
    // Staged data must be durable before the journal says to use it.
    std::set<uint64_t> synced;
    for (const auto& r : s_.roots) {
      HASYNC_ASSIGN_OR_RETURN(FileInfo info, env_.Stat(r.root));
      if (synced.insert(info.device).second) HASYNC_RETURN_IF_ERROR(env_.SyncFs(r.root));
    }
    Mark("durable");
    KillPoint("commit.staged");
    HASYNC_RETURN_IF_ERROR(CommitJournal(env_, s_.state_dir, jn));
    // From here the staged files belong to the journal: with a database, the next start asks
    // the database whether this sync committed, even if its commit below fails.
    committed_ = true;
    if (jn.db_commit) {
      KillPoint("commit.journal-written");
      HASYNC_RETURN_IF_ERROR(db_->Commit(jn.sync_id));
    }
    Status st = RollForward(env_, s_.state_dir, jn);
    Mark("commit");
    if (!st.ok()) {
      return st.Context("the sync is committed but not yet in place; the next run finishes it");
    }
    staging_.Release();
    st = SaveManifests(true);
    Mark("manifests");
    return st;
  }

  // Tells the Primary the commit is durable (it may now move its slot) and ends the channel.
  Status Confirm() {
    sum_.bytes_wire = channel_->bytes_read() + channel_->bytes_written();
    HASYNC_RETURN_IF_ERROR(link_->SendRaw(MsgType::kCommitted, {}));
    channel_->CloseWrite();
    return Status::Ok();
  }

  // The Primary's side ends after kCommitted; its end is reaped here (after the local check).
  void FinishChannel() {
    Status fin = channel_->Finish();
    if (!fin.ok())
      log_->warn("the sync is committed, but the Primary ended badly: {}", fin.message());
  }

  // The database as applied, inside its transaction, against the Primary's pinned snapshot
  // (verify/table_check.h): a difference fails the sync before anything is committed.
  Status VerifyDatabase() {
    HASYNC_ASSIGN_OR_RETURN(
        verify::BothChecks both,
        verify::ExchangeTableChecks(
            [this]() -> Result<std::vector<TableCheck>> {
              HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link_->Expect(MsgType::kVerifyTables));
              HASYNC_ASSIGN_OR_RETURN(VerifyTables m, DecodeVerifyTables(f.payload));
              return std::move(m.tables);
            },
            [this](const std::vector<TableCheck>& ranges) {
              return db_->CheckInTransaction(
                  ranges, {.counts_only = level_ == "counts", .sample = sample_seed_});
            }));
    std::string bad;
    for (const auto& t : verify::CompareTableChecks(both.primary, both.local)) {
      if (t.equal) continue;
      bad += (bad.empty() ? "" : "; ") + t.table + ": " + t.what + " (Primary " +
             std::to_string(t.primary_rows) + ", here " + std::to_string(t.secondary_rows) + ")";
      for (const auto& [from, to] : t.ranges) {
        bad += " [" + (from.empty() ? "start" : from) + ", " + (to.empty() ? "end" : to) + ")";
      }
    }
    Mark("verify database");
    if (!bad.empty()) {
      return Status(Code::kDiffers, "verification (" + level_ +
                                        ") after applying the changes failed, nothing was "
                                        "committed: " +
                                        bad);
    }
    return Status::Ok();
  }

  // After the commit, this node's roots against the Primary's list (engine/files/list_check.h).
  Status VerifyFiles() {
    if (level_ == "none" || o_.dry_run) return Status::Ok();
    KillPoint("verify.files");
    std::string bad;
    for (uint32_t i = 0; i < roots_.size() && bad.empty(); ++i) {
      const auto& r = s_.roots[i];
      // "counts": the plan compared this sync's scan with the list moments ago, so only what
      // the commit touched is looked at again (a no-change sync scans once).
      HASYNC_ASSIGN_OR_RETURN(ListCheck c,
                              CheckAgainstList(env_, r, i, roots_[i].remote, receiver_.jobs(),
                                               {.full = level_ == "full",
                                                .threads = s_.threads,
                                                .scan_before = &roots_[i].local,
                                                .actions = &actions_}));
      sum_.verify_rescanned_roots += c.rescanned;
      sum_.verify_looked_again += c.looked_again;
      bad = std::move(c.difference);
      if (!bad.empty()) {
        // The next sync must not trust this root's cache: it re-reads it.
        (void)env_.RemoveFile(LocalManifestPath(s_, r.name));
      }
    }
    Mark("verify files");
    if (!bad.empty()) {
      return Status(Code::kDiffers, "verification (" + level_ +
                                        ") after the commit found the files differ from the "
                                        "Primary's list: " +
                                        bad + "; the next sync re-reads them");
    }
    sum_.verified = level_;
    return Status::Ok();
  }

  Status SaveManifests(bool changed) {
    for (uint32_t i = 0; i < roots_.size(); ++i) {
      snapshot::Manifest m =
          NewLocalManifest(env_, s_.roots[i].root, i, roots_[i], actions_, receiver_.jobs());
      KillPoint("commit.manifest");
      if (changed || local_rehashed_) {
        HASYNC_RETURN_IF_ERROR(m.Save(env_, LocalManifestPath(s_, s_.roots[i].name)));
      }
    }
    return Status::Ok();
  }

  const Settings& s_;
  const SyncOptions& o_;
  Env& env_;
  std::shared_ptr<spdlog::logger> log_;
  std::string level_;  // the verification level of this sync
  std::unique_ptr<transport::CommandChannel> channel_;
  std::optional<PeerLink> link_;  // on channel_, once connected
  std::vector<RootPlan> roots_;
  std::vector<Action> actions_;
  StagingArea staging_;
  Receiver receiver_;  // after staging_: it writes into it
  std::map<const Action*, std::string> symlink_staged_;
  std::vector<RootMeta> root_meta_;    // the Primary's roots' own metadata (list end)
  std::vector<FileInfo> root_before_;  // the roots as this sync found them
  std::chrono::steady_clock::time_point phase_start_ = std::chrono::steady_clock::now();
  bool committed_ = false;
  std::unique_ptr<DbTarget> db_;
  std::string peer_node_;  // the source's node name, from its hello
  int sample_seed_ = -1;   // "sample": which eighth of the key ranges is hashed
  const uint64_t sync_id_ =
      static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  bool local_rehashed_ = false;  // the scan learnt hashes the saved manifest lacks
  SyncSummary sum_;
};

}  // namespace

Result<SyncSummary> RunSync(const Settings& settings, const SyncOptions& options) {
  Env* env = options.env;
  if (env == nullptr) {
    HASYNC_ASSIGN_OR_RETURN(env, Env::Default());
  }
  Puller p(settings, options, *env);
  return p.Run();
}

Result<Hello> TestChannel(const Settings& s, const std::string& transport_command) {
  HASYNC_ASSIGN_OR_RETURN(auto channel, transport::CommandChannel::Start(transport_command));
  PeerLink link(*channel, "peer");
  HASYNC_ASSIGN_OR_RETURN(Hello mine, MakeHello(s));
  auto exchange = [&]() -> Result<Hello> {
    HASYNC_ASSIGN_OR_RETURN(Hello peer, ExchangeHello(link, mine));
    HASYNC_RETURN_IF_ERROR(CheckPeerHello(mine, peer, s.max_clock_skew_s));
    HASYNC_RETURN_IF_ERROR(link.SendRaw(MsgType::kBye, {}));
    return peer;
  };
  auto peer = exchange();
  channel->CloseWrite();
  Status fin = channel->Finish();
  if (!peer.ok()) return peer.status();
  if (!fin.ok()) return fin;
  return peer;
}

}  // namespace hasync::engine
