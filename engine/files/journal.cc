// Journal storage and roll-forward.
#include "engine/files/journal.h"

#include <set>

#include "common/binary.h"
#include "common/hash.h"
#include "common/kill_point.h"
#include "common/log.h"
#include "common/path.h"

namespace hasync::engine {
namespace {

constexpr uint32_t kMagic = 0x4e4a5348;  // "HSJN"
constexpr uint32_t kVersion = 2;         // 2: the database-commit flag
constexpr uint64_t kMaxOps = 1ull << 32;

// True when path lies under root; the roll-forward refuses anything else, so even a damaged or
// forged journal cannot write outside the roots.
bool Inside(const std::string& root, const std::string& path) {
  return path.size() > root.size() + 1 && path.compare(0, root.size(), root) == 0 &&
         path[root.size()] == '/' && ValidateRelativePath(path.substr(root.size() + 1)).ok();
}

// Every directory between the root and path's parent must be a real directory, never a symlink:
// a name replaced by a symlink must not redirect a write outside the root (invariant 5).
class ParentChecker {
 public:
  explicit ParentChecker(Env& env) : env_(env) {}
  Status Check(const std::string& root, const std::string& path) {
    std::string_view rel = std::string_view(path).substr(root.size() + 1);
    std::string_view parent = ParentOf(rel);
    if (parent.empty()) return Status::Ok();
    std::string dir = root;
    size_t start = 0;
    while (start <= parent.size()) {
      size_t end = parent.find('/', start);
      if (end == std::string_view::npos) end = parent.size();
      dir += "/";
      dir.append(parent.substr(start, end - start));
      if (!checked_.count(dir)) {
        HASYNC_ASSIGN_OR_RETURN(FileInfo info, env_.Stat(dir));
        if (info.type != FileType::kDirectory) {
          return Status(Code::kUnsafePath, "refused to write through " + dir +
                                               ", which is not a directory (a symlink?)");
        }
        checked_.insert(dir);
      }
      start = end + 1;
    }
    return Status::Ok();
  }
  void Forget(const std::string& path) { checked_.erase(path); }

 private:
  Env& env_;
  std::set<std::string> checked_;
};

bool IsNotFound(const Status& st) { return st.code() == Code::kNotFound; }

Status ApplyOp(Env& env, const JournalOp& op, ParentChecker& parents, const std::string& root) {
  if (op.kind != OpKind::kRemove) HASYNC_RETURN_IF_ERROR(parents.Check(root, op.path));
  switch (op.kind) {
    case OpKind::kRemove: {
      auto info = env.Stat(op.path);
      if (!info.ok()) return IsNotFound(info.status()) ? Status::Ok() : info.status();
      bool is_dir = info->type == FileType::kDirectory;
      if (is_dir != (op.type == FileType::kDirectory)) return Status::Ok();  // already replaced
      parents.Forget(op.path);
      if (!is_dir) return env.RemoveFile(op.path);
      Status st = env.RemoveDir(op.path);
      if (!st.ok() && env.ListDir(op.path).ok()) {
        // Files excluded from the sync stay, and so does their directory (as rsync without
        // --delete-excluded).
        Log("apply")->warn("kept {}: it holds files excluded from the sync", op.path);
        return Status::Ok();
      }
      return st;
    }
    case OpKind::kMkdir: {
      auto info = env.Stat(op.path);
      if (info.ok() && info->type == FileType::kDirectory) return Status::Ok();
      return env.CreateDir(op.path, 0700);
    }
    case OpKind::kRename: {
      auto src = env.Stat(op.source);
      if (!src.ok()) {
        if (!IsNotFound(src.status())) return src.status();
        if (env.Stat(op.path).ok()) return Status::Ok();  // renamed before the crash
        return Status(Code::kIo, "journal: staged file " + op.source + " is missing");
      }
      auto dst = env.Stat(op.path);
      if (dst.ok() && dst->type == FileType::kDirectory) {
        return Status(Code::kIo, "journal: " + op.path + " is a directory");
      }
      return env.Rename(op.source, op.path);
    }
    case OpKind::kLink: {
      HASYNC_ASSIGN_OR_RETURN(FileInfo src, env.Stat(op.source));
      auto dst = env.Stat(op.path);
      if (dst.ok() && dst->inode == src.inode && dst->device == src.device) return Status::Ok();
      Status st = env.RemoveFile(op.temp);
      if (!st.ok() && !IsNotFound(st)) return st;
      HASYNC_RETURN_IF_ERROR(env.Link(op.source, op.temp));
      return env.Rename(op.temp, op.path);
    }
    case OpKind::kWriteBlocks: {
      HASYNC_ASSIGN_OR_RETURN(auto redo, env.OpenForRead(op.source));
      HASYNC_ASSIGN_OR_RETURN(auto out,
                              env.OpenForWrite(op.path, {.create = false, .truncate = false}));
      std::vector<std::byte> buf;
      for (const BlockRun& r : op.runs) {
        buf.resize(r.length);
        HASYNC_ASSIGN_OR_RETURN(size_t n, redo->Read(r.redo_offset, buf));
        if (n != r.length)
          return Status(Code::kIo, "journal: redo file " + op.source + " is short");
        HASYNC_RETURN_IF_ERROR(out->WriteAt(r.offset, buf));
      }
      return out->Close();
    }
    case OpKind::kMeta: {
      MetaOptions m{.set_mode = op.type != FileType::kSymlink,
                    .mode = op.mode,
                    .set_owner = op.set_owner,
                    .uid = op.uid,
                    .gid = op.gid,
                    .set_mtime = true,
                    .mtime_ns = op.mtime_ns};
      return env.SetMeta(op.path, m);
    }
  }
  return Status(Code::kInternal, "journal: unknown operation");
}

}  // namespace

std::string JournalPath(const std::string& state_dir) { return state_dir + "/journal"; }

std::vector<std::byte> Journal::Serialize() const {
  Encoder e;
  e.PutFixed32(kMagic);
  e.PutFixed32(kVersion);
  e.PutFixed64(sync_id);
  e.PutU8(db_commit ? 1 : 0);
  e.PutVarint(roots.size());
  for (const auto& r : roots) e.PutString(r);
  e.PutVarint(staging_dirs.size());
  for (const auto& s : staging_dirs) e.PutString(s);
  e.PutVarint(ops.size());
  for (const JournalOp& op : ops) {
    e.PutU8(static_cast<uint8_t>(op.kind));
    e.PutVarint(op.root);
    e.PutString(op.path);
    e.PutString(op.source);
    e.PutString(op.temp);
    e.PutU8(static_cast<uint8_t>(op.type));
    e.PutVarint(op.mode);
    e.PutU8(op.set_owner ? 1 : 0);
    e.PutVarint(op.uid);
    e.PutVarint(op.gid);
    e.PutSigned(op.mtime_ns);
    e.PutVarint(op.runs.size());
    for (const BlockRun& r : op.runs) {
      e.PutVarint(r.offset);
      e.PutVarint(r.length);
      e.PutVarint(r.redo_offset);
    }
  }
  e.PutFixed64(Hash64(e.view()));
  return std::move(e.buffer());
}

Result<Journal> Journal::Parse(std::span<const std::byte> data) {
  if (data.size() < 24) return Status(Code::kIo, "journal too short");
  auto body = data.first(data.size() - 8);
  Decoder t(data.subspan(data.size() - 8));
  HASYNC_ASSIGN_OR_RETURN(uint64_t sum, t.GetFixed64());
  if (Hash64(body) != sum) return Status(Code::kIo, "journal checksum mismatch");
  Decoder d(body);
  Journal j;
  HASYNC_ASSIGN_OR_RETURN(uint32_t magic, d.GetFixed32());
  HASYNC_ASSIGN_OR_RETURN(uint32_t version, d.GetFixed32());
  if (magic != kMagic || (version != 1 && version != kVersion))
    return Status(Code::kIo, "not a journal of version 1 or 2");
  HASYNC_ASSIGN_OR_RETURN(j.sync_id, d.GetFixed64());
  if (version >= 2) {
    HASYNC_ASSIGN_OR_RETURN(uint8_t flag, d.GetU8());
    if (flag > 1) return Status(Code::kIo, "journal with unknown flags");
    j.db_commit = flag == 1;
  }
  HASYNC_ASSIGN_OR_RETURN(uint64_t nroots, d.GetVarint(1024, "root count"));
  j.roots.resize(nroots);
  for (auto& r : j.roots) {
    HASYNC_ASSIGN_OR_RETURN(r, d.GetString(kMaxPathLength));
  }
  HASYNC_ASSIGN_OR_RETURN(uint64_t nstaging, d.GetVarint(1024, "staging count"));
  j.staging_dirs.resize(nstaging);
  for (auto& s : j.staging_dirs) {
    HASYNC_ASSIGN_OR_RETURN(s, d.GetString(kMaxPathLength));
  }
  HASYNC_ASSIGN_OR_RETURN(uint64_t nops, d.GetVarint(kMaxOps, "operation count"));
  for (uint64_t i = 0; i < nops; ++i) {
    JournalOp op;
    HASYNC_ASSIGN_OR_RETURN(uint8_t kind, d.GetU8());
    if (kind < 1 || kind > 6) return Status(Code::kIo, "journal operation of unknown kind");
    op.kind = static_cast<OpKind>(kind);
    HASYNC_ASSIGN_OR_RETURN(uint64_t root, d.GetVarint(nroots ? nroots - 1 : 0, "root index"));
    op.root = static_cast<uint32_t>(root);
    HASYNC_ASSIGN_OR_RETURN(op.path, d.GetString(2 * kMaxPathLength));
    HASYNC_ASSIGN_OR_RETURN(op.source, d.GetString(2 * kMaxPathLength));
    HASYNC_ASSIGN_OR_RETURN(op.temp, d.GetString(2 * kMaxPathLength));
    HASYNC_ASSIGN_OR_RETURN(uint8_t type, d.GetU8());
    if (type > 3) return Status(Code::kIo, "journal operation of unknown file type");
    op.type = static_cast<FileType>(type);
    HASYNC_ASSIGN_OR_RETURN(uint64_t mode, d.GetVarint(07777, "mode"));
    op.mode = static_cast<uint32_t>(mode);
    HASYNC_ASSIGN_OR_RETURN(uint8_t owner, d.GetU8());
    op.set_owner = owner != 0;
    HASYNC_ASSIGN_OR_RETURN(uint64_t uid, d.GetVarint(UINT32_MAX, "uid"));
    HASYNC_ASSIGN_OR_RETURN(uint64_t gid, d.GetVarint(UINT32_MAX, "gid"));
    op.uid = static_cast<uint32_t>(uid);
    op.gid = static_cast<uint32_t>(gid);
    HASYNC_ASSIGN_OR_RETURN(op.mtime_ns, d.GetSigned());
    HASYNC_ASSIGN_OR_RETURN(uint64_t nruns, d.GetVarint(kMaxOps, "run count"));
    // Each run takes at least 3 bytes: a count past what is left is refused before it sizes
    // anything (ci/fuzz.sh found an 81 GB allocation from a 200-byte journal).
    if (nruns > d.remaining() / 3) return Status(Code::kIo, "journal run count past its end");
    op.runs.resize(nruns);
    for (BlockRun& r : op.runs) {
      HASYNC_ASSIGN_OR_RETURN(r.offset, d.GetVarint());
      HASYNC_ASSIGN_OR_RETURN(r.length, d.GetVarint(1ull << 30, "run length"));
      HASYNC_ASSIGN_OR_RETURN(r.redo_offset, d.GetVarint());
    }
    if (nroots == 0 || !Inside(j.roots[op.root], op.path)) {
      return Status(Code::kUnsafePath, "journal operation outside its root: " + op.path);
    }
    j.ops.push_back(std::move(op));
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return j;
}

Status CommitJournal(Env& env, const std::string& state_dir, const Journal& journal) {
  std::vector<std::byte> data = journal.Serialize();
  std::string tmp = JournalPath(state_dir) + ".tmp";
  HASYNC_ASSIGN_OR_RETURN(auto file, env.OpenForWrite(tmp, OpenWriteOptions{.mode = 0600}));
  HASYNC_RETURN_IF_ERROR(file->WriteAt(0, data));
  HASYNC_RETURN_IF_ERROR(file->Sync());
  HASYNC_RETURN_IF_ERROR(file->Close());
  KillPoint("commit.before-rename");
  HASYNC_RETURN_IF_ERROR(env.Rename(tmp, JournalPath(state_dir)));
  KillPoint("commit.after-rename");
  return env.SyncDir(state_dir);
}

Status RollForward(Env& env, const std::string& state_dir, const Journal& journal) {
  ParentChecker parents(env);
  for (const JournalOp& op : journal.ops) {
    KillPoint("rollforward.op");
    Status st = ApplyOp(env, op, parents, journal.roots[op.root]);
    if (!st.ok()) return st.Context("rolling the sync forward");
  }
  std::set<uint64_t> synced;
  for (const auto& root : journal.roots) {
    auto info = env.Stat(root);
    if (info.ok() && synced.insert(info->device).second) HASYNC_RETURN_IF_ERROR(env.SyncFs(root));
  }
  KillPoint("rollforward.before-cleanup");
  for (const auto& dir : journal.staging_dirs) HASYNC_RETURN_IF_ERROR(RemoveTree(env, dir));
  HASYNC_RETURN_IF_ERROR(env.RemoveFile(JournalPath(state_dir)));
  return env.SyncDir(state_dir);
}

Status RecoverJournal(Env& env, const std::string& state_dir, bool* recovered,
                      const std::function<Result<uint64_t>()>& db_committed_sync) {
  *recovered = false;
  Status st = env.RemoveFile(JournalPath(state_dir) + ".tmp");
  if (!st.ok() && !IsNotFound(st)) return st;
  auto data = ReadFileToString(env, JournalPath(state_dir));
  if (!data.ok()) return IsNotFound(data.status()) ? Status::Ok() : data.status();
  auto journal = Journal::Parse(std::as_bytes(std::span<const char>(data->data(), data->size())));
  if (!journal.ok()) {
    return journal.status().Context("the committed journal " + JournalPath(state_dir) +
                                    " cannot be read; the tree may be between two sync points");
  }
  if (journal->db_commit) {
    // The database's commit decided this sync: the journal counts only if it recorded it.
    if (!db_committed_sync) {
      return Status(Code::kConfig, "the journal " + JournalPath(state_dir) +
                                       " waits on a database commit, and [database] is not set");
    }
    HASYNC_ASSIGN_OR_RETURN(uint64_t committed, db_committed_sync());
    if (committed != journal->sync_id) {
      Log("apply")->warn("sync {} was interrupted before its database commit: discarding it",
                         journal->sync_id);
      for (const auto& dir : journal->staging_dirs) HASYNC_RETURN_IF_ERROR(RemoveTree(env, dir));
      HASYNC_RETURN_IF_ERROR(env.RemoveFile(JournalPath(state_dir)));
      return env.SyncDir(state_dir);
    }
  }
  Log("apply")->warn("rolling forward sync {} interrupted by a crash", journal->sync_id);
  HASYNC_RETURN_IF_ERROR(RollForward(env, state_dir, *journal));
  *recovered = true;
  return Status::Ok();
}

}  // namespace hasync::engine
