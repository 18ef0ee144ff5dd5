// Receiver: the checks on every data run (its job, block sizes, hashes, growth) happen on the
// session's thread before a task is queued, so nothing unchecked reaches a shard; the shards
// only write. In-place files run inline: their bytes go to the one redo log of their root.
#include "engine/files/receiver.h"

#include <algorithm>
#include <cstring>

#include "common/hash.h"
#include "common/kill_point.h"
#include "common/log.h"
#include "engine/files/delta.h"
#include "engine/files/piece_digest.h"
#include "snapshot/manifest.h"

namespace hasync::engine {

using snapshot::kBlockSize;

// Staged files from this size on start their write-back when they are complete.
constexpr uint64_t kWritebackAtLeast = 1 << 20;

Status CheckGrowth(const std::string& path, uint64_t listed, uint64_t end_offset) {
  if (end_offset > std::max<uint64_t>(2 * listed, listed + (64ull << 20))) {
    return Status(Code::kAborted, path + " grew from " + std::to_string(listed) + " bytes past " +
                                      std::to_string(end_offset) + " during the sync; sync again");
  }
  return Status::Ok();
}

MetaOptions MetaFor(const WireEntry& r, int64_t mtime_ns, bool symlink, bool set_owner) {
  return MetaOptions{.set_mode = !symlink,
                     .mode = r.mode,
                     .set_owner = set_owner,
                     .uid = r.uid,
                     .gid = r.gid,
                     .set_mtime = true,
                     .mtime_ns = mtime_ns,
                     .xattrs = symlink ? nullptr : &r.xattrs};
}

Receiver::Receiver(Env& env, const StagingArea& staging, const ReceiverOptions& options)
    : env_(env), staging_(staging), options_(options) {}

Receiver::~Receiver() { Stop(); }

uint32_t Receiver::Add(std::unique_ptr<FileJob> job) {
  total_bytes_ += job->action->remote->size;
  jobs_.push_back(std::move(job));
  return static_cast<uint32_t>(jobs_.size() - 1);
}

void Receiver::Start(Progress* progress) {
  progress_ = progress;
  pool_ = std::make_unique<ShardPool>(std::max(1u, options_.threads), options_.queue_bytes);
}

void Receiver::Stop() {
  pool_.reset();  // no task may still use a job
  progress_ = nullptr;
  jobs_.clear();  // closes staged files
  redo_.clear();
}

Result<FileJob*> Receiver::Find(uint32_t id) {
  if (id >= jobs_.size() || jobs_[id]->done) {
    return Status(Code::kProtocol, "data for an unknown or finished request " + std::to_string(id));
  }
  return jobs_[id].get();
}

Status Receiver::OnData(std::shared_ptr<std::vector<std::byte>> payload) {
  HASYNC_RETURN_IF_ERROR(pool_->error());
  // The task keeps the payload alive; d's spans point into it.
  HASYNC_ASSIGN_OR_RETURN(FileData d, DecodeFileData(*payload));
  HASYNC_ASSIGN_OR_RETURN(FileJob * j, CheckData(d));
  if (j->action->in_place) return ApplyData(*j, d);
  pool_->Submit(d.id, payload->size(), [this, j, d, payload] { return ApplyData(*j, d); });
  return Status::Ok();
}

Status Receiver::OnDelta(std::shared_ptr<std::vector<std::byte>> payload) {
  HASYNC_RETURN_IF_ERROR(pool_->error());
  HASYNC_ASSIGN_OR_RETURN(FileDelta d, DecodeFileDelta(*payload));
  HASYNC_ASSIGN_OR_RETURN(FileJob * j, Find(d.id));
  if (j->action->request != RequestKind::kDelta) {
    return Status(Code::kProtocol, "a delta for " + j->action->path + ", which was not asked for");
  }
  HASYNC_RETURN_IF_ERROR(
      CheckGrowth(j->action->path, j->action->remote->size, d.offset + d.length));
  bytes_changed_ += d.delta.size();
  if (progress_) progress_->AddBytes(d.length);
  pool_->Submit(d.id, payload->size() + (1 << 20),
                [this, j, d, payload] { return ApplyDeltaRange(*j, d); });
  KillPoint("receive.data");
  return Status::Ok();
}

Status Receiver::OnDone(std::span<const std::byte> payload) {
  HASYNC_RETURN_IF_ERROR(pool_->error());
  HASYNC_ASSIGN_OR_RETURN(FileDone d, DecodeFileDone(payload));
  HASYNC_ASSIGN_OR_RETURN(FileJob * j, Find(d.id));
  if (!d.vanished)
    HASYNC_RETURN_IF_ERROR(CheckGrowth(j->action->path, j->action->remote->size, d.size));
  j->done = true;
  if (progress_) progress_->FileDone();
  if (d.vanished) {
    j->vanished = true;
    ++vanished_;
    Log("sync")->warn("{} vanished on the Primary during the sync; left as it was",
                      j->action->path);
    return Status::Ok();
  }
  if (j->action->in_place) return FinishFile(*j, d);
  pool_->Submit(d.id, 0, [this, j, d] { return FinishFile(*j, d); });
  return Status::Ok();
}

Status Receiver::OnHole(std::span<const std::byte> payload) {
  HASYNC_RETURN_IF_ERROR(pool_->error());
  HASYNC_ASSIGN_OR_RETURN(FileHole h, DecodeFileHole(payload));
  HASYNC_ASSIGN_OR_RETURN(FileJob * j, Find(h.id));
  HASYNC_RETURN_IF_ERROR(
      CheckGrowth(j->action->path, j->action->remote->size, h.offset + h.length));
  if (progress_) progress_->AddBytes(h.length);
  KillPoint("receive.data");
  if (j->action->in_place) return ApplyHole(*j, h);
  pool_->Submit(h.id, 0, [this, j, h] { return ApplyHole(*j, h); });
  return Status::Ok();
}

Status Receiver::OnEnd() {
  HASYNC_RETURN_IF_ERROR(pool_->Drain());
  for (const auto& j : jobs_) {
    if (!j->done) {
      return Status(Code::kProtocol, "the Primary finished without sending " + j->target);
    }
  }
  return Status::Ok();
}

Status Receiver::CloseRedo() {
  for (auto& [root, redo] : redo_) {
    HASYNC_RETURN_IF_ERROR(redo.file->Close());
    redo.file.reset();
  }
  return Status::Ok();
}

// Checks a data run before anything is written: its job, and each block against its hash.
Result<FileJob*> Receiver::CheckData(const FileData& d) {
  HASYNC_ASSIGN_OR_RETURN(FileJob * j, Find(d.id));
  uint64_t first = d.first_block, n = d.hashes.size();
  HASYNC_RETURN_IF_ERROR(
      CheckGrowth(j->action->path, j->action->remote->size, (first + n) * kBlockSize));
  uint64_t pos = 0;
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t len = std::min<uint64_t>(kBlockSize, d.data.size() - pos);
    if (k + 1 < n && len != kBlockSize) return Status(Code::kProtocol, "short block in a data run");
    auto block = d.data.subspan(pos, k + 1 < n ? kBlockSize : d.data.size() - pos);
    if (block.size() > kBlockSize) return Status(Code::kProtocol, "oversized block in a data run");
    // Invariant 2: every block is checked against the Primary's hash before it is kept.
    if (Hash64(block) != d.hashes[k]) {
      return Status(Code::kChecksum, "block " + std::to_string(first + k) + " of " +
                                         j->action->path + " does not match its checksum");
    }
    pos += block.size();
  }
  bytes_changed_ += d.data.size();
  if (progress_) progress_->AddBytes(d.data.size());
  KillPoint("receive.data");
  return j;
}

// Staged files, the redo log and the old file are all opened beneath the root's handle: a
// staging folder or a directory of the tree swapped for a symlink cannot redirect them.
Status Receiver::OpenStaged(FileJob& j) {
  if (!j.out) {
    uint32_t root = j.action->root;
    HASYNC_ASSIGN_OR_RETURN(std::string rel, staging_.Rel(root, j.staged));
    HASYNC_ASSIGN_OR_RETURN(j.out,
                            env_.OpenForWriteAt(staging_.Root(root), rel, {.exclusive = true}));
  }
  return Status::Ok();
}

// Writes a checked data run; on the job's shard (or inline for in-place jobs). The Primary's
// file may have grown since its scan; blocks up to the growth bound are accepted and the final
// size is checked at file-done.
Status Receiver::ApplyData(FileJob& j, const FileData& d) {
  // Grown to what was received, never to the listed size at once: the listed size is the
  // Primary's word (growth is bounded by CheckGrowth, the size by ValidateRemoteList).
  // The hashes start as the Secondary's own (a kBlocks request): they only ever grow.
  uint64_t first = d.first_block, n = d.hashes.size();
  if (j.got.size() < first + n) j.got.resize(first + n, false);
  if (j.hashes.size() < first + n) j.hashes.resize(first + n, 0);
  for (uint64_t k = 0; k < n; ++k) {
    if (first + k < j.hole.size() && j.hole[first + k]) {
      return Status(Code::kProtocol, "data for block " + std::to_string(first + k) + " of " +
                                         j.action->path + ", which was sent as a hole");
    }
    j.got[first + k] = true;
    j.hashes[first + k] = d.hashes[k];
  }
  if (j.action->in_place) return AppendRedo(j, first * kBlockSize, d.data);
  HASYNC_RETURN_IF_ERROR(OpenStaged(j));
  HASYNC_RETURN_IF_ERROR(j.out->WriteAt(first * kBlockSize, d.data));
  j.out_end = std::max(j.out_end, first * kBlockSize + d.data.size());
  return Status::Ok();
}

namespace {

bool AllZero(std::span<const std::byte> b) {
  return b.empty() ||
         (b[0] == std::byte{0} && std::memcmp(b.data(), b.data() + 1, b.size() - 1) == 0);
}

}  // namespace

// Writes data at `at` into the staged file, leaving its whole blocks of zeros unwritten: holes
// of the (new, empty) staged file, as rsync -S does. REQUIRES: at block-aligned.
Status Receiver::WriteNonZero(FileJob& j, uint64_t at, std::span<const std::byte> data) {
  size_t k = 0;
  while (k < data.size()) {
    size_t len = std::min<size_t>(kBlockSize, data.size() - k);
    if (len == kBlockSize && AllZero(data.subspan(k, len))) {
      k += len;
      continue;
    }
    size_t start = k;
    while (k < data.size()) {
      len = std::min<size_t>(kBlockSize, data.size() - k);
      if (len == kBlockSize && AllZero(data.subspan(k, len))) break;
      k += len;
    }
    HASYNC_RETURN_IF_ERROR(j.out->WriteAt(at + start, data.subspan(start, k - start)));
    j.out_end = std::max(j.out_end, at + k);
  }
  return Status::Ok();
}

// Rebuilds a range from the old file and the Primary's delta into the staged file, hashing its
// blocks for the digest check at file-done.
Status Receiver::ApplyDeltaRange(FileJob& j, const FileDelta& d) {
  const Action& a = *j.action;
  if (!j.basis) {
    HASYNC_ASSIGN_OR_RETURN(j.basis, env_.OpenForReadAt(staging_.Root(a.root), a.path));
  }
  HASYNC_RETURN_IF_ERROR(OpenStaged(j));
  uint64_t end_block = snapshot::BlockCount(d.offset + d.length);
  if (d.offset % kBlockSize != 0) {
    return Status(Code::kProtocol, "a delta range of " + a.path + " at offset " +
                                       std::to_string(d.offset) + ", not at a block's start");
  }
  if (j.got.size() < end_block) {
    j.got.resize(end_block, false);
    j.hashes.resize(end_block, 0);
  }
  // Each block arrives once: a range over blocks already received could leave their bytes
  // unwritten (its zero blocks are skipped) while their hashes change.
  for (uint64_t i = d.offset / kBlockSize; i < end_block; ++i) {
    if (j.got[i]) {
      return Status(Code::kProtocol, "a delta range over block " + std::to_string(i) + " of " +
                                         a.path + ", which had already arrived");
    }
  }
  std::vector<std::byte> pend;
  uint64_t at = d.offset;  // file offset of pend[0]
  auto flush = [&](bool last) -> Status {
    size_t n = last ? pend.size() : pend.size() / kBlockSize * kBlockSize;
    if (n == 0) return Status::Ok();
    for (size_t b = 0; b < n; b += kBlockSize) {
      uint64_t i = (at + b) / kBlockSize;
      j.hashes[i] =
          Hash64(std::span<const std::byte>(pend).subspan(b, std::min(kBlockSize, n - b)));
      j.got[i] = true;
    }
    HASYNC_RETURN_IF_ERROR(WriteNonZero(j, at, std::span<const std::byte>(pend.data(), n)));
    at += n;
    pend.erase(pend.begin(), pend.begin() + static_cast<ptrdiff_t>(n));
    return Status::Ok();
  };
  auto sink = [&](std::span<const std::byte> b) -> Status {
    pend.insert(pend.end(), b.begin(), b.end());
    return pend.size() >= (1u << 20) ? flush(false) : Status::Ok();
  };
  Status st = ApplyDelta(*j.basis, a.local->size, d.delta, d.length, sink);
  if (st.ok()) st = flush(true);
  if (!st.ok()) return st.Context("rebuilding " + a.path + " from the Primary's delta");
  return Status::Ok();
}

// A hole: its blocks are zeros, hashed as such; a staged file leaves them unwritten (it was
// created empty, and FinishFile's truncate gives it its size, so a trailing hole exists too). An
// in-place file's old blocks there are not zeros: the redo log gets the zeros to write.
Status Receiver::ApplyHole(FileJob& j, const FileHole& h) {
  uint64_t first = h.offset / kBlockSize, n = snapshot::BlockCount(h.length);
  if (j.got.size() < first + n) j.got.resize(first + n, false);
  if (j.hashes.size() < first + n) j.hashes.resize(first + n, 0);
  if (j.hole.size() < first + n) j.hole.resize(first + n, false);
  for (uint64_t k = 0; k < n; ++k) {
    if (j.got[first + k]) {
      return Status(Code::kProtocol, "a hole over block " + std::to_string(first + k) + " of " +
                                         j.action->path + ", which was already sent");
    }
    j.got[first + k] = true;
    j.hole[first + k] = true;
    j.hashes[first + k] = ZeroBlockHash(std::min(kBlockSize, h.length - k * kBlockSize));
  }
  j.hole_end = std::max(j.hole_end, h.offset + h.length);
  if (h.length % kBlockSize != 0) {  // the earliest: any but the file's last block is refused
    uint64_t end = h.offset + h.length;
    j.short_hole_end = j.short_hole_end == 0 ? end : std::min(j.short_hole_end, end);
  }
  if (!j.action->in_place) return OpenStaged(j);
  static const std::vector<std::byte> zeros(1 << 20);
  for (uint64_t done = 0; done < h.length;) {
    uint64_t len = std::min<uint64_t>(zeros.size(), h.length - done);
    HASYNC_RETURN_IF_ERROR(
        AppendRedo(j, h.offset + done, std::span<const std::byte>(zeros.data(), len)));
    done += len;
  }
  return Status::Ok();
}

Status Receiver::AppendRedo(FileJob& j, uint64_t offset, std::span<const std::byte> data) {
  uint32_t root = j.action->root;
  Redo& redo = redo_[root];
  if (!redo.file) {
    redo.path = staging_.RedoPath(root);
    HASYNC_ASSIGN_OR_RETURN(std::string rel, staging_.Rel(root, redo.path));
    HASYNC_ASSIGN_OR_RETURN(redo.file,
                            env_.OpenForWriteAt(staging_.Root(root), rel, {.exclusive = true}));
  }
  HASYNC_RETURN_IF_ERROR(redo.file->WriteAt(redo.size, data));
  j.runs.push_back(BlockRun{offset, data.size(), redo.size});
  redo.size += data.size();
  return Status::Ok();
}

// Blocks the Primary did not send are the Secondary's own (a kBlocks request): copied into the
// staged file from the old one (in place, they are already there).
Status Receiver::CopyUnsentBlocks(FileJob& j, uint64_t nb) {
  const Action& a = *j.action;
  uint64_t have = a.local ? snapshot::BlockCount(a.local->size) : 0;
  for (uint64_t i = 0; i < nb; ++i) {
    if (j.got[i]) continue;
    if (a.request != RequestKind::kBlocks || i >= have) {
      return Status(Code::kProtocol,
                    "the Primary did not send block " + std::to_string(i) + " of " + a.path);
    }
    if (a.in_place) continue;
    uint64_t run = 1;
    while (i + run < nb && !j.got[i + run] && i + run < have) ++run;
    HASYNC_RETURN_IF_ERROR(OpenStaged(j));
    uint64_t len = std::min(run * kBlockSize, a.local->size - i * kBlockSize);
    HASYNC_RETURN_IF_ERROR(CopyOldRange(j, i * kBlockSize, len));
    i += run - 1;
  }
  return Status::Ok();
}

// Copies [off, off + len) of the old file into the staged one, but for the old file's holes:
// the staged file (new, empty) has them already, and copy_file_range would fill them.
Status Receiver::CopyOldRange(FileJob& j, uint64_t off, uint64_t len) {
  const Action& a = *j.action;
  const RootDir& root = staging_.Root(a.root);
  if (!j.basis) {
    HASYNC_ASSIGN_OR_RETURN(j.basis, env_.OpenForReadAt(root, a.path));
  }
  HASYNC_ASSIGN_OR_RETURN(std::vector<FileRange> holes, j.basis->Holes(off, off + len));
  HASYNC_ASSIGN_OR_RETURN(std::string staged, staging_.Rel(a.root, j.staged));
  uint64_t pos = off;
  holes.push_back(FileRange{off + len, off + len});
  for (const FileRange& h : holes) {
    if (h.begin > pos) {
      HASYNC_RETURN_IF_ERROR(env_.CopyRangeAt(root, a.path, pos, staged, pos, h.begin - pos));
      j.out_end = std::max(j.out_end, h.begin);
    }
    pos = std::max(pos, h.end);
  }
  return Status::Ok();
}

// Completes a file after its last data: blocks kept from the old file, the digest check, size,
// metadata. On the job's shard (or inline for in-place jobs).
Status Receiver::FinishFile(FileJob& j, const FileDone& d) {
  const Action& a = *j.action;
  uint64_t nb = snapshot::BlockCount(d.size);
  if (a.in_place && d.size != a.local->size) {
    return Status(Code::kAborted,
                  a.path + " changed size on the Primary during the sync; sync again");
  }
  j.got.resize(nb, false);
  j.hashes.resize(nb, 0);
  HASYNC_RETURN_IF_ERROR(CopyUnsentBlocks(j, nb));
  if (j.hole_end > d.size || (j.short_hole_end != 0 && j.short_hole_end != d.size)) {
    return Status(Code::kProtocol, "a hole past the end of " + a.path);
  }
  if (FileDigest(j.hashes, d.size) != d.digest) {
    return Status(Code::kChecksum, a.path + " does not match the Primary's digest after transfer");
  }
  j.size = d.size;
  j.mtime_ns = d.mtime_ns;
  if (a.in_place) return Status::Ok();
  HASYNC_RETURN_IF_ERROR(OpenStaged(j));
  // Written up to its size already (the usual case), it needs no truncate; a file shorter than
  // what was written, or one ending in zeros or a hole that were not written, does.
  if (j.out_end != d.size) HASYNC_RETURN_IF_ERROR(j.out->Truncate(d.size));
  // A large file's write-back starts now, so the commit's syncfs does not wait for all of it;
  // small ones are left to that syncfs, which writes them in far fewer requests.
  if (d.size >= kWritebackAtLeast) j.out->StartWriteback();
  // On the handle the data went through: no path to the staged file is looked up again.
  HASYNC_RETURN_IF_ERROR(j.out->SetMeta(MetaFor(*a.remote, d.mtime_ns, false, options_.set_owner)));
  HASYNC_RETURN_IF_ERROR(j.out->Close());
  j.out.reset();
  return Status::Ok();
}

}  // namespace hasync::engine
