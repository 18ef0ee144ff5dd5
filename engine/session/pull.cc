// The pull session. Order of work: lock, recover, scan locally while the Primary scans, compare,
// request, receive and verify into staging, make staging durable, commit the journal, roll
// forward, record the new manifests, confirm. Until the journal commit nothing outside the
// staging folders has changed, and any failure removes those.
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
#include "common/shard_pool.h"
#include "engine/db/db_apply.h"
#include "engine/files/delta.h"
#include "engine/files/manifests.h"
#include "engine/files/plan.h"
#include "engine/files/progress.h"
#include "engine/session/hello.h"
#include "engine/state/sync_lock.h"
#include "snapshot/scanner.h"
#include "verify/table_check.h"

namespace hasync::engine {
namespace {

using snapshot::kBlockSize;
constexpr size_t kRequestBatchBytes = 1 << 20;
constexpr uint32_t kStagingBuckets = 32;         // see StagedPath
constexpr uint64_t kWriteQueueBytes = 64 << 20;  // received data waiting for the writers

struct Job {
  Action* action = nullptr;
  std::string target;  // absolute final path
  std::string staged;  // absolute staged path (not in place)
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::vector<uint64_t> hashes;
  std::vector<bool> got;
  std::unique_ptr<WritableFile> out;
  std::vector<BlockRun> runs;               // in place: where the redo file's bytes go
  std::unique_ptr<RandomAccessFile> basis;  // kDelta: the old file the deltas copy from
  bool done = false;
  bool vanished = false;
};

class Puller {
 public:
  Puller(const Settings& s, const SyncOptions& o, Env& env)
      : s_(s),
        o_(o),
        env_(env),
        log_(Log("sync")),
        level_(o.verify_level.empty() ? s.verify : o.verify_level) {}

  Result<SyncSummary> Run() {
    auto start = std::chrono::steady_clock::now();
    HASYNC_RETURN_IF_ERROR(CreateDirs(env_, s_.state_dir + "/manifests", 0700));
    HASYNC_ASSIGN_OR_RETURN(SyncLock lock, SyncLock::Acquire(s_.state_dir));
    if (s_.database.enabled()) {
      HASYNC_ASSIGN_OR_RETURN(db_, DbTarget::Open(s_));
      HASYNC_RETURN_IF_ERROR(RecoverJournal(env_, s_.state_dir, &sum_.recovered,
                                            [this] { return db_->CommittedSyncId(); }));
    } else {
      HASYNC_RETURN_IF_ERROR(RecoverJournal(env_, s_.state_dir, &sum_.recovered));
    }
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
  Status Session() {
    for (const auto& r : s_.roots) {
      auto info = env_.Stat(r.root);
      if (!info.ok() || info->type != FileType::kDirectory) {
        return Status(Code::kConfig, "file root '" + r.name + "': " + r.root +
                                         " is not an existing directory on this node");
      }
    }
    // The local scan runs while the channel starts and the Primary scans.
    auto local = std::async(std::launch::async, [this] { return ScanLocal(); });
    Status st = Connect();
    Status scan_st = local.get();
    HASYNC_RETURN_IF_ERROR(st);
    HASYNC_RETURN_IF_ERROR(scan_st);
    Mark("connect and scan");
    if (db_ && !o_.dry_run) {
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
    }
    ListRequest req{.rehash_all = o_.rehash_all, .roots = {}};
    for (const auto& r : s_.roots) req.roots.push_back(r.name);
    HASYNC_RETURN_IF_ERROR(link_->Send(MsgType::kListRequest, req));
    HASYNC_RETURN_IF_ERROR(ReceiveList());
    PlanOptions po{.compare_owner = ::geteuid() == 0};
    for (uint32_t i = 0; i < roots_.size(); ++i) PlanRoot(i, roots_[i], po, actions_);
    Mark("list and plan");
    if (o_.dry_run) {
      for (const Action& a : actions_)
        sum_.actions.push_back(DescribeAction(a, s_.roots[a.root].name));
      HASYNC_RETURN_IF_ERROR(link_->SendRaw(MsgType::kRequestsEnd, {}));
      pool_ = std::make_unique<ShardPool>(1, kWriteQueueBytes);
      HASYNC_RETURN_IF_ERROR(ReceiveData());
      channel_->CloseWrite();
      return channel_->Finish();
    }
    bool staged = std::any_of(actions_.begin(), actions_.end(), [](const Action& a) {
      return a.kind == ActionKind::kFile || a.kind == ActionKind::kSymlink ||
             a.kind == ActionKind::kLink;
    });
    if (staged) HASYNC_RETURN_IF_ERROR(PrepareStaging());
    HASYNC_RETURN_IF_ERROR(SendRequests());
    Mark("requests");
    {
      Progress progress(o_.progress, total_bytes_, jobs_.size());
      progress_ = &progress;
      pool_ = std::make_unique<ShardPool>(std::max(1u, s_.threads), kWriteQueueBytes);
      st = ReceiveData();
      progress_ = nullptr;
    }
    HASYNC_RETURN_IF_ERROR(st);
    HASYNC_RETURN_IF_ERROR(StageRest());
    Mark("transfer");
    HASYNC_RETURN_IF_ERROR(Commit());
    sum_.bytes_wire = channel_->bytes_read() + channel_->bytes_written();
    HASYNC_RETURN_IF_ERROR(link_->SendRaw(MsgType::kCommitted, {}));
    channel_->CloseWrite();
    Status fin = channel_->Finish();
    if (!fin.ok())
      log_->warn("the sync is committed, but the Primary ended badly: {}", fin.message());
    // Committed: a difference found now fails the sync in the history and its roots' caches
    // are dropped, so the next sync re-reads and repairs them.
    return VerifyFiles();
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
      auto cache = snapshot::Manifest::Load(env_, ManifestPath(s_, "local", r.name));
      if (!cache.ok()) {
        log_->warn("ignoring damaged manifest cache: {}", cache.status().message());
        cache = snapshot::Manifest();
      }
      snapshot::ScanOptions so{.filter = snapshot::Filter(r.include, r.exclude),
                               .cache = &*cache,
                               .rehash_all = o_.rehash_all,
                               .hash_uncached = true,
                               .threads = s_.threads};
      HASYNC_ASSIGN_OR_RETURN(auto scan, snapshot::ScanRoot(env_, r.root, so));
      if (scan.stats.hashed_files > 0 ||
          scan.manifest.entries().size() != cache->entries().size()) {
        local_rehashed_ = true;
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
    link_.emplace(*channel_, "Primary", s_.compression);
    HASYNC_ASSIGN_OR_RETURN(Hello mine, MakeHello(s_));
    HASYNC_RETURN_IF_ERROR(link_->Send(MsgType::kHello, mine));
    HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link_->Expect(MsgType::kHello));
    HASYNC_ASSIGN_OR_RETURN(Hello peer, DecodeHello(f.payload));
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
    sum_.source_lineage = peer.lineage;
    peer_node_ = peer.node_name;
    return Status::Ok();
  }

  Status ReceiveList() {
    for (;;) {
      HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link_->Read());
      if (f.type == U8(MsgType::kListEnd)) break;
      if (f.type != U8(MsgType::kListEntries)) return Unexpected(f, "the file list");
      HASYNC_ASSIGN_OR_RETURN(ListEntries m, DecodeListEntries(f.payload));
      if (m.root >= roots_.size())
        return Status(Code::kProtocol, "list entries for an unknown root");
      auto& dst = roots_[m.root].remote;
      for (auto& e : m.entries) dst.push_back(std::move(e));
    }
    for (RootPlan& r : roots_) {
      HASYNC_RETURN_IF_ERROR(ValidateRemoteList(r.remote));
      for (const WireEntry& e : r.remote) {
        if (e.type != FileType::kRegular) continue;
        ++sum_.files_scanned;
        sum_.bytes_scanned += e.size;
      }
    }
    return Status::Ok();
  }

  std::string Staging(uint32_t root) const {
    return JoinPath(s_.roots[root].root, snapshot::kStagingDirName);
  }

  // Where a staged file for `path` goes: one of kStagingBuckets folders, picked by the file's
  // parent, so the files of one folder stay together and the file system spreads the buckets
  // over its allocation groups. One flat folder made ext4 scan a single group's inode bitmap
  // for every create: rsync -T slows the same way (7.3 s to 12.0 s for bench/run.sh's tree).
  std::string StagedPath(uint32_t root, const std::string& path, char kind, size_t n) const {
    std::string_view parent = ParentOf(path);
    uint64_t bucket = Hash64(parent.data(), parent.size()) % kStagingBuckets;
    return Staging(root) + "/b" + std::to_string(bucket) + "/" + kind + std::to_string(n);
  }

  Status PrepareStaging() {
    for (uint32_t i = 0; i < roots_.size(); ++i) {
      HASYNC_RETURN_IF_ERROR(RemoveTree(env_, Staging(i)));
      HASYNC_RETURN_IF_ERROR(env_.CreateDir(Staging(i), 0700));
      staging_created_ = true;
      HintSpreadSubdirs(Staging(i));
      for (uint32_t b = 0; b < kStagingBuckets; ++b) {
        HASYNC_RETURN_IF_ERROR(env_.CreateDir(Staging(i) + "/b" + std::to_string(b), 0700));
      }
    }
    return Status::Ok();
  }

  void RemoveStaging() {
    if (!staging_created_) return;
    pool_.reset();  // no task may still use a job
    jobs_.clear();  // close staged files first
    for (uint32_t i = 0; i < s_.roots.size(); ++i) {
      Status st = RemoveTree(env_, Staging(i));
      if (!st.ok()) log_->warn("could not remove {}: {}", Staging(i), st.ToString());
    }
  }

  Status SendRequests() {
    Encoder batch;
    uint64_t count = 0;
    auto flush = [&]() -> Status {
      if (count == 0) return Status::Ok();
      Encoder msg;
      msg.PutVarint(count);
      msg.PutRaw(batch.view().data(), batch.size());
      batch.Clear();
      count = 0;
      return link_->SendRaw(MsgType::kFileRequests, msg.view());
    };
    // Largest first, so the big files start while small ones fill the gaps.
    std::vector<Action*> files;
    for (Action& a : actions_) {
      if (a.kind == ActionKind::kFile) files.push_back(&a);
    }
    std::stable_sort(files.begin(), files.end(),
                     [](Action* a, Action* b) { return a->remote->size > b->remote->size; });
    for (Action* a : files) {
      uint32_t id = static_cast<uint32_t>(jobs_.size());
      auto job = std::make_unique<Job>();
      job->action = a;
      job->target = JoinPath(s_.roots[a->root].root, a->path);
      if (!a->in_place) job->staged = StagedPath(a->root, a->path, 'f', id);
      FileRequest r{
          .id = id, .root = a->root, .path = a->path, .kind = a->request, .have_blocks = {}};
      if (a->request == RequestKind::kBlocks) r.have_blocks = a->local->blocks;
      if (a->request == RequestKind::kDelta) {
        auto sig = ComputeSignature(env_, job->target, a->local->size, s_.threads);
        if (!sig.ok()) return sig.status().Context("signing " + job->target);
        r.signature = std::move(*sig);
      }
      job->hashes = r.have_blocks;
      total_bytes_ += a->remote->size;
      jobs_.push_back(std::move(job));
      Encode(r, batch);
      ++count;
      if (batch.size() >= kRequestBatchBytes) HASYNC_RETURN_IF_ERROR(flush());
    }
    HASYNC_RETURN_IF_ERROR(flush());
    return link_->SendRaw(MsgType::kRequestsEnd, {});
  }

  Status ReceiveData() {
    for (;;) {
      HASYNC_RETURN_IF_ERROR(pool_->error());
      HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link_->Read());
      switch (static_cast<MsgType>(f.type)) {
        case MsgType::kFileData: {
          // The task keeps the payload alive; d's spans point into it.
          auto payload = std::make_shared<std::vector<std::byte>>(std::move(f.payload));
          HASYNC_ASSIGN_OR_RETURN(FileData d, DecodeFileData(*payload));
          HASYNC_ASSIGN_OR_RETURN(Job * j, CheckData(d));
          if (j->action->in_place) {
            HASYNC_RETURN_IF_ERROR(ApplyData(*j, d));
          } else {
            pool_->Submit(d.id, payload->size(),
                          [this, j, d, payload] { return ApplyData(*j, d); });
          }
          break;
        }
        case MsgType::kFileDelta: {
          auto payload = std::make_shared<std::vector<std::byte>>(std::move(f.payload));
          HASYNC_ASSIGN_OR_RETURN(FileDelta d, DecodeFileDelta(*payload));
          HASYNC_ASSIGN_OR_RETURN(Job * j, FindJob(d.id));
          if (j->action->request != RequestKind::kDelta) {
            return Status(Code::kProtocol,
                          "a delta for " + j->action->path + ", which was not asked for");
          }
          HASYNC_RETURN_IF_ERROR(CheckGrowth(*j, d.offset + d.length));
          sum_.bytes_changed += d.delta.size();
          if (progress_) progress_->AddBytes(d.length);
          pool_->Submit(d.id, payload->size() + (1 << 20),
                        [this, j, d, payload] { return ApplyDeltaRange(*j, d); });
          KillPoint("receive.data");
          break;
        }
        case MsgType::kFileDone: {
          HASYNC_ASSIGN_OR_RETURN(FileDone d, DecodeFileDone(f.payload));
          HASYNC_ASSIGN_OR_RETURN(Job * j, FindJob(d.id));
          j->done = true;
          if (progress_) progress_->FileDone();
          if (d.vanished) {
            j->vanished = true;
            ++sum_.vanished;
            log_->warn("{} vanished on the Primary during the sync; left as it was",
                       j->action->path);
          } else if (j->action->in_place) {
            HASYNC_RETURN_IF_ERROR(FinishFile(*j, d));
          } else {
            pool_->Submit(d.id, 0, [this, j, d] { return FinishFile(*j, d); });
          }
          break;
        }
        case MsgType::kDone: {
          HASYNC_RETURN_IF_ERROR(DecodeDone(f.payload).status());
          HASYNC_RETURN_IF_ERROR(pool_->Drain());
          for (const auto& j : jobs_) {
            if (!j->done) {
              return Status(Code::kProtocol, "the Primary finished without sending " + j->target);
            }
          }
          return Status::Ok();
        }
        default:
          return Status(Code::kProtocol, std::string("unexpected ") + MsgName(f.type) +
                                             " while receiving file data");
      }
    }
  }

  Result<Job*> FindJob(uint32_t id) {
    if (id >= jobs_.size() || jobs_[id]->done) {
      return Status(Code::kProtocol,
                    "data for an unknown or finished request " + std::to_string(id));
    }
    return jobs_[id].get();
  }

  // Checks a data run before anything is written: its job, and each block against its hash.
  // A file may grow on the Primary between its scan and its transfer, but not without bound:
  // a peer cannot make this side allocate for a file far larger than the one listed.
  static Status CheckGrowth(const Job& j, uint64_t end_offset) {
    uint64_t listed = j.action->remote->size;
    if (end_offset > std::max<uint64_t>(2 * listed, listed + (64ull << 20))) {
      return Status(Code::kAborted, j.action->path + " grew from " + std::to_string(listed) +
                                        " bytes past " + std::to_string(end_offset) +
                                        " during the sync; sync again");
    }
    return Status::Ok();
  }

  Result<Job*> CheckData(const FileData& d) {
    HASYNC_ASSIGN_OR_RETURN(Job * j, FindJob(d.id));
    uint64_t first = d.first_block, n = d.hashes.size();
    HASYNC_RETURN_IF_ERROR(CheckGrowth(*j, (first + n) * kBlockSize));
    uint64_t pos = 0;
    for (uint64_t k = 0; k < n; ++k) {
      uint64_t len = std::min<uint64_t>(kBlockSize, d.data.size() - pos);
      if (k + 1 < n && len != kBlockSize)
        return Status(Code::kProtocol, "short block in a data run");
      auto block = d.data.subspan(pos, k + 1 < n ? kBlockSize : d.data.size() - pos);
      if (block.size() > kBlockSize)
        return Status(Code::kProtocol, "oversized block in a data run");
      // Invariant 2: every block is checked against the Primary's hash before it is kept.
      if (Hash64(block) != d.hashes[k]) {
        return Status(Code::kChecksum, "block " + std::to_string(first + k) + " of " +
                                           j->action->path + " does not match its checksum");
      }
      pos += block.size();
    }
    sum_.bytes_changed += d.data.size();
    if (progress_) progress_->AddBytes(d.data.size());
    KillPoint("receive.data");
    return j;
  }

  // Writes a checked data run; on the job's shard (or inline for in-place jobs).
  // The Primary's file may have grown since its scan; blocks up to the hard limit are accepted
  // and the final size is checked at file-done.
  Status ApplyData(Job& job, const FileData& d) {
    Job* j = &job;
    uint64_t nb = snapshot::BlockCount(j->action->remote->size);
    uint64_t first = d.first_block, n = d.hashes.size();
    if (j->got.size() < first + n) {
      j->got.resize(std::max(first + n, nb), false);
      j->hashes.resize(j->got.size(), 0);
    }
    for (uint64_t k = 0; k < n; ++k) {
      j->got[first + k] = true;
      j->hashes[first + k] = d.hashes[k];
    }
    if (j->action->in_place) {
      HASYNC_RETURN_IF_ERROR(AppendRedo(*j, first * kBlockSize, d.data));
    } else {
      if (!j->out) {
        HASYNC_ASSIGN_OR_RETURN(j->out, env_.OpenForWrite(j->staged, {.exclusive = true}));
      }
      HASYNC_RETURN_IF_ERROR(j->out->WriteAt(first * kBlockSize, d.data));
    }
    return Status::Ok();
  }

  // Rebuilds a range from the old file and the Primary's delta into the staged file, hashing
  // its blocks for the digest check at file-done.
  Status ApplyDeltaRange(Job& job, const FileDelta& d) {
    Job* j = &job;
    const Action& a = *j->action;
    if (!j->basis) {
      HASYNC_ASSIGN_OR_RETURN(j->basis, env_.OpenForRead(j->target));
    }
    if (!j->out) {
      HASYNC_ASSIGN_OR_RETURN(j->out, env_.OpenForWrite(j->staged, {.exclusive = true}));
    }
    uint64_t end_block = snapshot::BlockCount(d.offset + d.length);
    if (j->got.size() < end_block) {
      j->got.resize(end_block, false);
      j->hashes.resize(end_block, 0);
    }
    std::vector<std::byte> pend;
    uint64_t at = d.offset;  // file offset of pend[0]
    auto flush = [&](bool last) -> Status {
      size_t n = last ? pend.size() : pend.size() / kBlockSize * kBlockSize;
      if (n == 0) return Status::Ok();
      for (size_t b = 0; b < n; b += kBlockSize) {
        uint64_t i = (at + b) / kBlockSize;
        j->hashes[i] =
            Hash64(std::span<const std::byte>(pend).subspan(b, std::min(kBlockSize, n - b)));
        j->got[i] = true;
      }
      HASYNC_RETURN_IF_ERROR(j->out->WriteAt(at, std::span<const std::byte>(pend.data(), n)));
      at += n;
      pend.erase(pend.begin(), pend.begin() + static_cast<ptrdiff_t>(n));
      return Status::Ok();
    };
    auto sink = [&](std::span<const std::byte> b) -> Status {
      pend.insert(pend.end(), b.begin(), b.end());
      return pend.size() >= (1u << 20) ? flush(false) : Status::Ok();
    };
    Status st = ApplyDelta(*j->basis, a.local->size, d.delta, d.length, sink);
    if (st.ok()) st = flush(true);
    if (!st.ok()) return st.Context("rebuilding " + a.path + " from the Primary's delta");
    return Status::Ok();
  }

  Status AppendRedo(Job& j, uint64_t offset, std::span<const std::byte> data) {
    uint32_t root = j.action->root;
    auto& redo = redo_[root];
    if (!redo.file) {
      redo.path = Staging(root) + "/redo";
      HASYNC_ASSIGN_OR_RETURN(redo.file, env_.OpenForWrite(redo.path, {.exclusive = true}));
    }
    HASYNC_RETURN_IF_ERROR(redo.file->WriteAt(redo.size, data));
    j.runs.push_back(BlockRun{offset, data.size(), redo.size});
    redo.size += data.size();
    return Status::Ok();
  }

  // Completes a file after its last data: blocks kept from the old file, the digest check,
  // size, metadata. On the job's shard (or inline for in-place jobs).
  Status FinishFile(Job& job, const FileDone& d) {
    Job* j = &job;
    const Action& a = *j->action;
    uint64_t nb = snapshot::BlockCount(d.size);
    if (a.in_place && d.size != a.local->size) {
      return Status(Code::kAborted,
                    a.path + " changed size on the Primary during the sync; sync again");
    }
    j->got.resize(nb, false);
    j->hashes.resize(nb, 0);
    // Blocks not sent are the Secondary's own: copy them into the staged file.
    uint64_t have = a.local ? snapshot::BlockCount(a.local->size) : 0;
    for (uint64_t i = 0; i < nb; ++i) {
      if (j->got[i]) continue;
      if (a.request != RequestKind::kBlocks || i >= have) {
        return Status(Code::kProtocol,
                      "the Primary did not send block " + std::to_string(i) + " of " + a.path);
      }
      if (a.in_place) continue;
      uint64_t run = 1;
      while (i + run < nb && !j->got[i + run] && i + run < have) ++run;
      if (!j->out) {
        HASYNC_ASSIGN_OR_RETURN(j->out, env_.OpenForWrite(j->staged, {.exclusive = true}));
      }
      uint64_t len = std::min(run * kBlockSize, a.local->size - i * kBlockSize);
      HASYNC_RETURN_IF_ERROR(
          env_.CopyRange(j->target, i * kBlockSize, j->staged, i * kBlockSize, len));
      i += run - 1;
    }
    if (FileDigest(j->hashes, d.size) != d.digest) {
      return Status(Code::kChecksum,
                    a.path + " does not match the Primary's digest after transfer");
    }
    j->size = d.size;
    j->mtime_ns = d.mtime_ns;
    if (!a.in_place) {
      if (!j->out) {
        HASYNC_ASSIGN_OR_RETURN(j->out, env_.OpenForWrite(j->staged, {.exclusive = true}));
      }
      HASYNC_RETURN_IF_ERROR(j->out->Truncate(d.size));
      j->out->StartWriteback();
      HASYNC_RETURN_IF_ERROR(j->out->Close());
      j->out.reset();
      HASYNC_RETURN_IF_ERROR(env_.SetMeta(j->staged, MetaFor(*a.remote, d.mtime_ns, false)));
    }
    return Status::Ok();
  }

  MetaOptions MetaFor(const WireEntry& r, int64_t mtime_ns, bool symlink) const {
    return MetaOptions{.set_mode = !symlink,
                       .mode = r.mode,
                       .set_owner = ::geteuid() == 0,
                       .uid = r.uid,
                       .gid = r.gid,
                       .set_mtime = true,
                       .mtime_ns = mtime_ns};
  }

  // Symlinks are created in staging so the roll-forward only renames.
  Status StageRest() {
    for (auto& [root, redo] : redo_) {
      HASYNC_RETURN_IF_ERROR(redo.file->Close());
      redo.file.reset();
    }
    size_t n = 0;
    for (Action& a : actions_) {
      if (a.kind != ActionKind::kSymlink) continue;
      std::string staged = StagedPath(a.root, a.path, 'l', n++);
      HASYNC_RETURN_IF_ERROR(env_.Symlink(a.remote->link_target, staged));
      HASYNC_RETURN_IF_ERROR(env_.SetMeta(staged, MetaFor(*a.remote, a.remote->mtime_ns, true)));
      symlink_staged_[&a] = staged;
    }
    return Status::Ok();
  }

  Journal BuildJournal() {
    Journal jn;
    jn.sync_id = sync_id_;
    jn.db_commit = db_ != nullptr && sum_.database;
    for (uint32_t i = 0; i < s_.roots.size(); ++i) {
      jn.roots.push_back(s_.roots[i].root);
      jn.staging_dirs.push_back(Staging(i));
    }
    std::map<const Action*, Job*> job_of;
    for (auto& j : jobs_) job_of[j->action] = j.get();
    bool owner = ::geteuid() == 0;
    size_t links = 0;
    for (Action& a : actions_) {
      JournalOp op;
      op.root = a.root;
      op.path = JoinPath(s_.roots[a.root].root, a.path);
      op.type = a.type;
      switch (a.kind) {
        case ActionKind::kRemove:
          op.kind = OpKind::kRemove;
          ++sum_.files_deleted;
          break;
        case ActionKind::kMkdir:
          op.kind = OpKind::kMkdir;
          ++sum_.dirs_created;
          break;
        case ActionKind::kFile: {
          Job* j = job_of[&a];
          if (j->vanished) continue;
          ++sum_.files_changed;
          if (a.in_place) {
            if (!j->runs.empty()) {
              JournalOp w = op;
              w.kind = OpKind::kWriteBlocks;
              w.source = redo_[a.root].path;
              w.runs = j->runs;
              jn.ops.push_back(std::move(w));
            }
            op.kind = OpKind::kMeta;
            op.mode = a.remote->mode;
            op.set_owner = owner;
            op.uid = a.remote->uid;
            op.gid = a.remote->gid;
            op.mtime_ns = j->mtime_ns;
          } else {
            op.kind = OpKind::kRename;
            op.source = j->staged;
          }
          break;
        }
        case ActionKind::kSymlink:
          ++sum_.files_changed;
          op.kind = OpKind::kRename;
          op.source = symlink_staged_[&a];
          break;
        case ActionKind::kLink:
          ++sum_.files_changed;
          op.kind = OpKind::kLink;
          op.source = JoinPath(s_.roots[a.root].root, a.remote->hardlink_to);
          op.temp = StagedPath(a.root, a.path, 'h', links++);
          break;
        case ActionKind::kMeta:
          ++sum_.meta_changed;
          op.kind = OpKind::kMeta;
          op.mode = a.remote->mode;
          op.set_owner = owner;
          op.uid = a.remote->uid;
          op.gid = a.remote->gid;
          op.mtime_ns = a.remote->mtime_ns;
          break;
      }
      jn.ops.push_back(std::move(op));
    }
    return jn;
  }

  Status Commit() {
    Journal jn = BuildJournal();
    if (jn.ops.empty()) {
      RemoveStaging();
      if (jn.db_commit) {
        HASYNC_RETURN_IF_ERROR(db_->Commit(jn.sync_id));
        Mark("commit");
      }
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
    staging_created_ = false;
    st = SaveManifests(true);
    Mark("manifests");
    return st;
  }

  // The database as applied, inside its transaction, against the Primary's pinned snapshot
  // (engine/table_check.h): a difference fails the sync before anything is committed.
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

  // After the commit, this node's roots against the Primary's list: paths, types and sizes
  // ("counts"), and every file re-read and compared with the Primary's digest ("full").
  Status VerifyFiles() {
    if (level_ == "none" || o_.dry_run) return Status::Ok();
    bool full = level_ == "full";
    // A file transferred in this sync is checked against what arrived (it may have changed on
    // the Primary since its scan); a file that vanished there meanwhile was left as it was.
    std::map<std::pair<uint32_t, std::string_view>, const Job*> job_of;
    for (const auto& j : jobs_) job_of[{j->action->root, j->action->path}] = j.get();
    std::string bad;
    for (uint32_t i = 0; i < roots_.size() && bad.empty(); ++i) {
      const auto& r = s_.roots[i];
      snapshot::ScanOptions so{.filter = snapshot::Filter(r.include, r.exclude),
                               .cache = nullptr,
                               .rehash_all = full,
                               .hash_uncached = full,
                               .threads = s_.threads};
      HASYNC_ASSIGN_OR_RETURN(auto scan, snapshot::ScanRoot(env_, r.root, so));
      const auto& mine = scan.manifest;
      std::set<std::string_view> listed;
      for (const WireEntry& e : roots_[i].remote) {
        listed.insert(e.path);
        uint64_t size = e.size;
        uint64_t digest = e.digest;
        bool known = e.hashed;
        if (auto jt = job_of.find({i, e.path}); jt != job_of.end()) {
          if (jt->second->vanished) continue;
          size = jt->second->size;
          digest = FileDigest(jt->second->hashes, size);
          known = jt->second->hashes.size() == snapshot::BlockCount(size);
        }
        const snapshot::Entry* m = mine.Find(e.path);
        std::string what = m == nullptr                                        ? "missing"
                           : m->type != e.type                                 ? "type"
                           : m->type == FileType::kRegular && m->size != size  ? "size"
                           : full && known && m->hashed && m->digest != digest ? "content"
                                                                               : "";
        if (!what.empty()) bad = r.name + ":" + e.path + " (" + what + ")";
        if (!bad.empty()) break;
      }
      for (const auto& m : mine.entries()) {
        if (bad.empty() && !listed.count(m.path))
          bad = r.name + ":" + m.path + " (not on the Primary)";
      }
      if (!bad.empty()) {
        // The next sync must not trust this root's cache: it re-reads it.
        (void)env_.RemoveFile(ManifestPath(s_, "pull", r.name));
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

  // The new local manifests: the Primary's entries, with hashes from the transfer or the local
  // scan, and this node's own stat data (the cache key) for what changed.
  Status SaveManifests(bool changed) {
    std::map<std::pair<uint32_t, std::string_view>, Job*> job_of;
    for (auto& j : jobs_) job_of[{j->action->root, j->action->path}] = j.get();
    std::set<std::pair<uint32_t, std::string_view>> acted;
    for (const Action& a : actions_) acted.insert({a.root, a.path});
    for (uint32_t i = 0; i < roots_.size(); ++i) {
      const RootPlan& rp = roots_[i];
      std::vector<snapshot::Entry> out;
      out.reserve(rp.remote.size());
      for (const WireEntry& r : rp.remote) {
        const snapshot::Entry* l = rp.local.Find(r.path);
        bool same = l && !acted.count({i, r.path}) && l->type == r.type;
        if (same && l->type == FileType::kRegular && !l->hashed) same = false;
        if (same) {
          out.push_back(*l);
          continue;
        }
        snapshot::Entry e;
        e.path = r.path;
        auto info = env_.Stat(JoinPath(s_.roots[i].root, r.path));
        if (!info.ok()) continue;  // vanished: the next scan sees what is there
        e.type = info->type;
        e.mode = info->mode;
        e.uid = info->uid;
        e.gid = info->gid;
        e.size = info->type == FileType::kRegular ? info->size : 0;
        e.mtime_ns = info->mtime_ns;
        e.ctime_ns = info->ctime_ns;
        e.inode = info->inode;
        e.device = info->device;
        e.nlink = info->nlink;
        e.link_target = r.link_target;
        auto jt = job_of.find({i, r.path});
        if (jt != job_of.end() && !jt->second->vanished) {
          e.blocks = jt->second->hashes;
          e.digest = FileDigest(e.blocks, e.size);
          e.hashed = e.size == jt->second->size;
        } else if (l && l->hashed && r.hashed && l->digest == r.digest) {
          e.blocks = l->blocks;
          e.digest = l->digest;
          e.hashed = true;
        }
        out.push_back(std::move(e));
      }
      // Hard links carry their target's hashes.
      snapshot::Manifest m(std::move(out));
      for (const WireEntry& r : rp.remote) {
        if (r.hardlink_to.empty()) continue;
        const snapshot::Entry* t = m.Find(r.hardlink_to);
        auto* e = const_cast<snapshot::Entry*>(m.Find(r.path));
        if (t && e && t->hashed && t->inode == e->inode) {
          e->blocks = t->blocks;
          e->digest = t->digest;
          e->hashed = true;
        }
      }
      KillPoint("commit.manifest");
      if (changed || local_rehashed_) {
        HASYNC_RETURN_IF_ERROR(m.Save(env_, ManifestPath(s_, "local", s_.roots[i].name)));
      }
    }
    return Status::Ok();
  }

  struct Redo {
    std::string path;
    std::unique_ptr<WritableFile> file;
    uint64_t size = 0;
  };

  const Settings& s_;
  const SyncOptions& o_;
  Env& env_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<transport::CommandChannel> channel_;
  std::optional<PeerLink> link_;  // on channel_, once connected
  std::vector<RootPlan> roots_;
  std::vector<Action> actions_;
  std::vector<std::unique_ptr<Job>> jobs_;
  // Writes, deltas and file completion run here, sharded by file, while this thread reads and
  // verifies the next frames. Declared after jobs_: it stops before the jobs go.
  std::unique_ptr<ShardPool> pool_;
  std::map<uint32_t, Redo> redo_;
  std::map<const Action*, std::string> symlink_staged_;
  uint64_t total_bytes_ = 0;
  bool staging_created_ = false;
  std::chrono::steady_clock::time_point phase_start_ = std::chrono::steady_clock::now();
  bool committed_ = false;
  std::unique_ptr<DbTarget> db_;
  std::string peer_node_;  // the source's node name, from its hello
  std::string level_;      // the verification level of this sync
  int sample_seed_ = -1;   // "sample": which eighth of the key ranges is hashed
  const uint64_t sync_id_ =
      static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  bool local_rehashed_ = false;  // the scan learnt hashes the saved manifest lacks
  Progress* progress_ = nullptr;
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
    HASYNC_RETURN_IF_ERROR(link.Send(MsgType::kHello, mine));
    HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link.Expect(MsgType::kHello));
    HASYNC_ASSIGN_OR_RETURN(Hello peer, DecodeHello(f.payload));
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
