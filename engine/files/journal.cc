// Journal storage and roll-forward.
#include "engine/files/journal.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <set>

#include "common/beneath.h"
#include "common/binary.h"
#include "common/hash.h"
#include "common/kill_point.h"
#include "common/log.h"
#include "common/path.h"
#include "engine/wire/protocol.h"
#include "snapshot/scanner.h"

namespace hasync::engine {
namespace {

constexpr uint32_t kMagic = 0x4e4a5348;  // "HSJN"
constexpr uint32_t kVersion = 4;  // 2: the database-commit flag; 3: root metadata; 4: attributes
constexpr uint64_t kMaxOps = 1ull << 32;

// True when path lies under root; the roll-forward refuses anything else, so even a damaged or
// forged journal cannot write outside the roots.
bool Inside(const std::string& root, const std::string& path) {
  return path.size() > root.size() + 1 && path.compare(0, root.size(), root) == 0 &&
         path[root.size()] == '/' && ValidateRelativePath(path.substr(root.size() + 1)).ok();
}

bool IsNotFound(const Status& st) { return st.code() == Code::kNotFound; }

// One roll-forward: each root is opened once, and every operation resolves its path, source and
// temporary beneath that handle (common/beneath.h), so a name a local user swapped for a symlink
// since the scan cannot send an operation outside the root. Nothing about a parent is cached:
// each operation walks again from the root's handle.
class Applier {
 public:
  Applier(Env& env, const Journal& journal, const RootOptions& resolve)
      : env_(env), journal_(journal), resolve_(resolve) {
    roots_.resize(journal.roots.size());
    staging_.resize(journal.roots.size());
  }
  Status Apply(const JournalOp& op);
  const ApplyReport& report() const { return report_; }
  // The root's handle, opened on first use.
  Result<const RootDir*> Root(uint32_t i);

 private:
  // Where a path the journal names lives: (the staging folder's handle, the rest) for a path in
  // the root's staging folder, else (the root's handle, the path relative to it).
  struct Place {
    const RootDir* dir;
    std::string rel;
  };
  Result<Place> Locate(uint32_t i, const std::string& path);
  // The root's staging folder, opened once beneath the root and checked to be this account's
  // and writable by nobody else: a folder another account put at its name (renaming hasync's
  // away) is refused, so nothing that account wrote is renamed into the root.
  Result<const RootDir*> Staging(uint32_t i);
  Status Remove(const RootDir& root, const JournalOp& op, const std::string& rel);
  Status Rename(const RootDir& root, const JournalOp& op, const std::string& rel);
  Status Link(const RootDir& root, const JournalOp& op, const std::string& rel);
  Status WriteBlocks(const RootDir& root, const JournalOp& op, const std::string& rel);
  Status Meta(const RootDir& root, const JournalOp& op, const std::string& rel);
  void Skip(const std::string& what) {
    ++report_.skipped_changed;
    Log("apply")->warn("{}: changed locally since the scan; left alone (the next sync re-plans)",
                       what);
  }

  Env& env_;
  const Journal& journal_;
  RootOptions resolve_;
  std::vector<std::optional<RootDir>> roots_;
  std::vector<std::optional<RootDir>> staging_;
  ApplyReport report_;
};

Result<const RootDir*> Applier::Root(uint32_t i) {
  if (i >= roots_.size()) return Status(Code::kUnsafePath, "journal operation without its root");
  if (!roots_[i]) {
    HASYNC_ASSIGN_OR_RETURN(RootDir dir, RootDir::Open(journal_.roots[i], resolve_));
    roots_[i].emplace(std::move(dir));
  }
  return &*roots_[i];
}

Result<const RootDir*> Applier::Staging(uint32_t i) {
  HASYNC_ASSIGN_OR_RETURN(const RootDir* root, Root(i));
  if (!staging_[i]) {
    HASYNC_ASSIGN_OR_RETURN(RootDir dir,
                            RootDir::OpenBeneath(*root, std::string(snapshot::kStagingDirName)));
    struct stat st;
    if (::fstat(dir.fd(), &st) != 0) return ErrnoStatus("stat " + dir.path(), errno);
    if (st.st_uid != ::geteuid() || (st.st_mode & 022) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return Status(Code::kUnsafePath,
                    "the staging folder " + dir.path() + " is not the one hasync made (owner " +
                        std::to_string(st.st_uid) + ", mode " + mode +
                        "): another account may have put it there; nothing is taken from it");
    }
    staging_[i].emplace(std::move(dir));
  }
  return &*staging_[i];
}

Result<Applier::Place> Applier::Locate(uint32_t i, const std::string& path) {
  HASYNC_ASSIGN_OR_RETURN(const RootDir* root, Root(i));
  HASYNC_ASSIGN_OR_RETURN(std::string rel, RelativeTo(root->path(), path));
  const std::string prefix = std::string(snapshot::kStagingDirName) + "/";
  if (!rel.starts_with(prefix)) return Place{root, std::move(rel)};
  HASYNC_ASSIGN_OR_RETURN(const RootDir* staging, Staging(i));
  return Place{staging, rel.substr(prefix.size())};
}

Status Applier::Apply(const JournalOp& op) {
  HASYNC_ASSIGN_OR_RETURN(const RootDir* root, Root(op.root));
  HASYNC_ASSIGN_OR_RETURN(std::string rel, RelativeTo(root->path(), op.path));
  switch (op.kind) {
    case OpKind::kRemove:
      return Remove(*root, op, rel);
    case OpKind::kMkdir: {
      auto info = StatBeneath(*root, rel);
      if (info.ok() && info->type == FileType::kDirectory) return Status::Ok();
      if (!info.ok() && !IsNotFound(info.status())) return info.status();
      return CreateDirBeneath(*root, rel, 0700);
    }
    case OpKind::kRename:
      return Rename(*root, op, rel);
    case OpKind::kLink:
      return Link(*root, op, rel);
    case OpKind::kWriteBlocks:
      return WriteBlocks(*root, op, rel);
    case OpKind::kMeta:
      return Meta(*root, op, rel);
  }
  return Status(Code::kInternal, "journal: unknown operation");
}

Status Applier::Remove(const RootDir& root, const JournalOp& op, const std::string& rel) {
  auto info = StatBeneath(root, rel);
  if (!info.ok()) {
    if (IsNotFound(info.status())) return Status::Ok();
    if (info.status().code() != Code::kUnsafePath) return info.status();
    Skip(op.path + " (a symlink now stands in its path)");  // the entry left the root already
    return Status::Ok();
  }
  bool is_dir = info->type == FileType::kDirectory;
  if (is_dir != (op.type == FileType::kDirectory)) return Status::Ok();  // already replaced
  Status st = RemoveBeneath(root, rel, info->type);
  if (!st.ok() && is_dir) {
    auto again = StatBeneath(root, rel);
    if (again.ok() && again->type == FileType::kDirectory) {
      // Files excluded from the sync stay, and so does their directory (as rsync without
      // --delete-excluded).
      Log("apply")->warn("kept {}: it holds files excluded from the sync", op.path);
      return Status::Ok();
    }
  }
  return IsNotFound(st) ? Status::Ok() : st;
}

Status Applier::Rename(const RootDir& root, const JournalOp& op, const std::string& rel) {
  // A staging folder already removed (a crash during the clean-up) is a missing source too.
  // Each side's parent is opened once: the checks and the rename act on the same handles.
  auto source = Locate(op.root, op.source);
  auto from =
      source.ok() ? source->dir->OpenParent(source->rel) : Result<ParentDir>(source.status());
  auto src = from.ok() ? StatIn(*from, op.source) : Result<FileInfo>(from.status());
  auto to = root.OpenParent(rel);
  auto dst = to.ok() ? StatIn(*to, root.Describe(rel)) : Result<FileInfo>(to.status());
  if (!dst.ok() && !IsNotFound(dst.status())) return dst.status();
  if (!src.ok()) {
    if (!IsNotFound(src.status())) return src.status();
    if (dst.ok()) return Status::Ok();  // renamed before the crash
    return Status(Code::kIo, "journal: staged file " + op.source + " is missing");
  }
  if (dst.ok() && dst->type == FileType::kDirectory) {
    return Status(Code::kIo, "journal: " + op.path + " is a directory");
  }
  HASYNC_RETURN_IF_ERROR(to.status());
  return RenameIn(*from, *to, op.source + " to " + root.Describe(rel));
}

Status Applier::Link(const RootDir& root, const JournalOp& op, const std::string& rel) {
  HASYNC_ASSIGN_OR_RETURN(Place source, Locate(op.root, op.source));
  HASYNC_ASSIGN_OR_RETURN(FileInfo src, StatBeneath(*source.dir, source.rel));
  auto dst = StatBeneath(root, rel);
  if (!dst.ok() && !IsNotFound(dst.status())) return dst.status();
  if (dst.ok() && dst->inode == src.inode && dst->device == src.device) return Status::Ok();
  HASYNC_ASSIGN_OR_RETURN(Place temp, Locate(op.root, op.temp));
  Status st = RemoveBeneath(*temp.dir, temp.rel, FileType::kRegular);
  if (!st.ok() && !IsNotFound(st)) return st;
  HASYNC_RETURN_IF_ERROR(LinkBetween(*source.dir, source.rel, *temp.dir, temp.rel));
  return RenameBetween(*temp.dir, temp.rel, root, rel);
}

Status Applier::WriteBlocks(const RootDir& root, const JournalOp& op, const std::string& rel) {
  HASYNC_ASSIGN_OR_RETURN(Place source, Locate(op.root, op.source));
  HASYNC_ASSIGN_OR_RETURN(auto redo, env_.OpenForReadAt(*source.dir, source.rel));
  // Only a regular file beneath the root is opened: a symlink swapped in is kUnsafePath.
  HASYNC_ASSIGN_OR_RETURN(auto out,
                          env_.OpenForWriteAt(root, rel, {.create = false, .truncate = false}));
  std::vector<std::byte> buf;
  for (const BlockRun& r : op.runs) {
    buf.resize(r.length);
    HASYNC_ASSIGN_OR_RETURN(size_t n, redo->Read(r.redo_offset, buf));
    if (n != r.length) return Status(Code::kIo, "journal: redo file " + op.source + " is short");
    HASYNC_RETURN_IF_ERROR(out->WriteAt(r.offset, buf));
  }
  return out->Close();
}

Status Applier::Meta(const RootDir& root, const JournalOp& op, const std::string& rel) {
  MetaOptions m{.set_mode = op.type != FileType::kSymlink,
                .mode = op.mode,
                .set_owner = op.set_owner,
                .uid = op.uid,
                .gid = op.gid,
                .set_mtime = true,
                .mtime_ns = op.mtime_ns,
                .xattrs = op.set_xattrs ? &op.xattrs : nullptr};
  auto outcome = SetMetaBeneath(root, rel, op.type, m);
  if (!outcome.ok()) {
    if (!IsNotFound(outcome.status())) return outcome.status();
    Skip(op.path + " (gone)");
    return Status::Ok();
  }
  if (*outcome == MetaOutcome::kTypeChanged) Skip(op.path + " (not the type the sync expected)");
  return Status::Ok();
}

// The staging folders lie inside their roots: removed beneath the root's handle.
Status RemoveStagingDirs(Env& env, const Journal& journal, Applier& applier) {
  for (const auto& dir : journal.staging_dirs) {
    bool done = false;
    for (uint32_t i = 0; i < journal.roots.size() && !done; ++i) {
      auto rel = RelativeTo(journal.roots[i], dir);
      if (!rel.ok()) continue;
      HASYNC_ASSIGN_OR_RETURN(const RootDir* root, applier.Root(i));
      HASYNC_RETURN_IF_ERROR(RemoveTreeBeneath(*root, *rel));
      done = true;
    }
    if (!done) HASYNC_RETURN_IF_ERROR(RemoveTree(env, dir));
  }
  return Status::Ok();
}

// Last, once the staging folders are gone: each root's own metadata, `after` when rolled
// forward, `before` when discarded.
Status SetRootsMeta(const Journal& journal, Applier& applier, bool forward) {
  for (const RootMetaChange& m : journal.root_meta) {
    HASYNC_ASSIGN_OR_RETURN(const RootDir* root, applier.Root(m.root));
    HASYNC_RETURN_IF_ERROR(ApplyRootMeta(*root, forward ? m.after : m.before));
  }
  return Status::Ok();
}

}  // namespace

Status ApplyRootMeta(const RootDir& root, const MetaOptions& meta) {
  HASYNC_ASSIGN_OR_RETURN(FileInfo now, StatRoot(root));
  bool owner = meta.set_owner && (now.uid != meta.uid || now.gid != meta.gid);
  bool mode = meta.set_mode && now.mode != (meta.mode & 07777);
  bool mtime = meta.set_mtime && now.mtime_ns != meta.mtime_ns;
  if (!owner && !mode && !mtime) return Status::Ok();
  MetaOptions m = meta;
  m.set_owner = owner;
  HASYNC_RETURN_IF_ERROR(SetRootMeta(root, m));
  // The root's inode is written: durable as the rest of the sync.
  if (::fsync(root.fd()) != 0) return ErrnoStatus("syncing " + root.path(), errno);
  return Status::Ok();
}

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
    e.PutU8(op.set_xattrs ? 1 : 0);
    if (op.set_xattrs) PutXattrs(e, op.xattrs);
  }
  e.PutVarint(root_meta.size());
  for (const RootMetaChange& m : root_meta) {
    e.PutVarint(m.root);
    e.PutU8(m.after.set_owner ? 1 : 0);
    e.PutVarint(m.after.uid);
    e.PutVarint(m.after.gid);
    e.PutVarint(m.after.mode);
    e.PutSigned(m.after.mtime_ns);
    e.PutVarint(m.before.mode);
    e.PutSigned(m.before.mtime_ns);
  }
  e.PutFixed64(Hash64(e.view()));
  return std::move(e.buffer());
}

namespace {

std::string StagingDirOf(const std::string& root) {
  return root + "/" + std::string(snapshot::kStagingDirName);
}

// Where an operation may take its bytes from: a staged file, the redo log or a hard link's
// temporary only from its root's staging folder, a hard link's source only from its root.
Status CheckSources(const std::string& root, const JournalOp& op) {
  std::string staging = StagingDirOf(root);
  bool ok = true;
  switch (op.kind) {
    case OpKind::kRename:
    case OpKind::kWriteBlocks:
      ok = Inside(staging, op.source) && op.temp.empty();
      break;
    case OpKind::kLink:
      ok = Inside(root, op.source) && !Inside(staging, op.source) && Inside(staging, op.temp);
      break;
    default:
      ok = op.source.empty() && op.temp.empty();
  }
  if (!ok) {
    return Status(Code::kUnsafePath, "journal operation on " + op.path + " takes '" + op.source +
                                         "' or '" + op.temp + "', outside its staging folder");
  }
  return Status::Ok();
}

// Version 3's root metadata: one change per root at most.
Status ParseRootMeta(Decoder& d, Journal& j) {
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, j.roots.size(), 8, "root metadata count"));
  j.root_meta.resize(n);
  for (RootMetaChange& m : j.root_meta) {
    uint64_t top = j.roots.empty() ? 0 : j.roots.size() - 1;
    HASYNC_ASSIGN_OR_RETURN(uint64_t root, d.GetVarint(top, "root index"));
    m.root = static_cast<uint32_t>(root);
    HASYNC_ASSIGN_OR_RETURN(uint8_t owner, d.GetU8());
    m.after.set_owner = owner != 0;
    HASYNC_ASSIGN_OR_RETURN(uint64_t uid, d.GetVarint(UINT32_MAX, "uid"));
    HASYNC_ASSIGN_OR_RETURN(uint64_t gid, d.GetVarint(UINT32_MAX, "gid"));
    HASYNC_ASSIGN_OR_RETURN(uint64_t mode, d.GetVarint(07777, "mode"));
    m.after.uid = static_cast<uint32_t>(uid);
    m.after.gid = static_cast<uint32_t>(gid);
    m.after.mode = static_cast<uint32_t>(mode);
    HASYNC_ASSIGN_OR_RETURN(m.after.mtime_ns, d.GetSigned());
    HASYNC_ASSIGN_OR_RETURN(uint64_t before_mode, d.GetVarint(07777, "mode"));
    m.before.mode = static_cast<uint32_t>(before_mode);
    HASYNC_ASSIGN_OR_RETURN(m.before.mtime_ns, d.GetSigned());
  }
  return Status::Ok();
}

}  // namespace

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
  if (magic != kMagic || version < 1 || version > kVersion)
    return Status(Code::kIo, "not a journal of version 1 to 4");
  HASYNC_ASSIGN_OR_RETURN(j.sync_id, d.GetFixed64());
  if (version >= 2) {
    HASYNC_ASSIGN_OR_RETURN(uint8_t flag, d.GetU8());
    if (flag > 1) return Status(Code::kIo, "journal with unknown flags");
    j.db_commit = flag == 1;
  }
  HASYNC_ASSIGN_OR_RETURN(uint64_t nroots, GetCount(d, 1024, 1, "root count"));
  j.roots.resize(nroots);
  for (auto& r : j.roots) {
    HASYNC_ASSIGN_OR_RETURN(r, d.GetString(kMaxPathLength));
  }
  HASYNC_ASSIGN_OR_RETURN(uint64_t nstaging, GetCount(d, 1024, 1, "staging count"));
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
    if (version >= 4) {
      HASYNC_ASSIGN_OR_RETURN(uint8_t set, d.GetU8());
      if (set > 1) return Status(Code::kIo, "journal operation with a bad attribute flag");
      op.set_xattrs = set == 1;
      if (op.set_xattrs) {
        auto x = GetXattrs(d);
        if (!x.ok()) return Status(Code::kIo, "journal: " + x.status().message());
        op.xattrs = std::move(*x);
      }
    }
    if (nroots == 0 || !Inside(j.roots[op.root], op.path)) {
      return Status(Code::kUnsafePath, "journal operation outside its root: " + op.path);
    }
    HASYNC_RETURN_IF_ERROR(CheckSources(j.roots[op.root], op));
    j.ops.push_back(std::move(op));
  }
  if (version >= 3) HASYNC_RETURN_IF_ERROR(ParseRootMeta(d, j));
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  for (const std::string& dir : j.staging_dirs) {
    bool known = false;
    for (const std::string& root : j.roots) known = known || dir == StagingDirOf(root);
    if (!known) {
      return Status(Code::kUnsafePath,
                    "journal staging folder " + dir + " is not one of its roots'");
    }
  }
  return j;
}

Status CheckJournalRoots(const Journal& journal, const std::vector<std::string>& roots) {
  for (const std::string& root : journal.roots) {
    if (std::find(roots.begin(), roots.end(), root) == roots.end()) {
      return Status(Code::kUnsafePath,
                    "the journal names " + root + ", which is not a configured file root");
    }
  }
  return Status::Ok();
}

Status CommitJournal(Env& env, const std::string& state_dir, const Journal& journal) {
  std::vector<std::byte> data = journal.Serialize();
  std::string tmp = JournalPath(state_dir) + ".tmp";
  // O_EXCL: never through whatever another account left at that name (a symlink, say).
  Status stale = env.RemoveFile(tmp);
  if (!stale.ok() && stale.code() != Code::kNotFound) return stale;
  HASYNC_ASSIGN_OR_RETURN(auto file,
                          env.OpenForWrite(tmp, OpenWriteOptions{.exclusive = true, .mode = 0600}));
  HASYNC_RETURN_IF_ERROR(file->WriteAt(0, data));
  HASYNC_RETURN_IF_ERROR(file->Sync());
  HASYNC_RETURN_IF_ERROR(file->Close());
  KillPoint("commit.before-rename");
  HASYNC_RETURN_IF_ERROR(env.Rename(tmp, JournalPath(state_dir)));
  KillPoint("commit.after-rename");
  return env.SyncDir(state_dir);
}

Result<ApplyReport> ApplyJournal(Env& env, const std::string& state_dir, const Journal& journal,
                                 const RootOptions& resolve) {
  Applier applier(env, journal, resolve);
  for (const JournalOp& op : journal.ops) {
    KillPoint("rollforward.op");
    Status st = applier.Apply(op);
    if (!st.ok()) return st.Context("rolling the sync forward");
  }
  std::set<uint64_t> synced;
  for (const auto& root : journal.roots) {
    auto info = env.Stat(root);
    if (info.ok() && synced.insert(info->device).second) HASYNC_RETURN_IF_ERROR(env.SyncFs(root));
  }
  KillPoint("rollforward.before-cleanup");
  HASYNC_RETURN_IF_ERROR(RemoveStagingDirs(env, journal, applier));
  HASYNC_RETURN_IF_ERROR(SetRootsMeta(journal, applier, true));
  HASYNC_RETURN_IF_ERROR(env.RemoveFile(JournalPath(state_dir)));
  HASYNC_RETURN_IF_ERROR(env.SyncDir(state_dir));
  return applier.report();
}

Status RollForward(Env& env, const std::string& state_dir, const Journal& journal) {
  return ApplyJournal(env, state_dir, journal).status();
}

namespace {

// Moves an unusable journal aside so that it never blocks the syncs after it.
Result<Recovery> Quarantine(Env& env, const std::string& state_dir, const Status& why) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  std::string base = JournalPath(state_dir) + ".quarantined-" +
                     std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  std::string to = base;
  for (int n = 1; env.Stat(to).ok(); ++n) to = base + "-" + std::to_string(n);
  HASYNC_RETURN_IF_ERROR(env.Rename(JournalPath(state_dir), to));
  HASYNC_RETURN_IF_ERROR(env.SyncDir(state_dir));
  Log("apply")->error(
      "{}; the journal was moved aside to {} (keep it for a post-mortem): this sync plans from "
      "what is on disk, and the tree may be between two sync points until it completes",
      why.ToString(), to);
  return Recovery{.rolled_forward = false, .quarantined = to};
}

}  // namespace

Result<Recovery> RecoverJournal(Env& env, const std::string& state_dir, const RecoverOptions& o) {
  Recovery out;
  Status st = env.RemoveFile(JournalPath(state_dir) + ".tmp");
  if (!st.ok() && !IsNotFound(st)) return st;
  auto data = ReadFileToString(env, JournalPath(state_dir));
  if (!data.ok()) {
    if (IsNotFound(data.status())) return out;
    return data.status();
  }
  auto journal = Journal::Parse(std::as_bytes(std::span<const char>(data->data(), data->size())));
  Status usable = journal.ok() ? CheckJournalRoots(*journal, o.roots) : journal.status();
  if (!usable.ok()) {
    return Quarantine(
        env, state_dir,
        usable.Context("the committed journal " + JournalPath(state_dir) + " cannot be used"));
  }
  if (journal->db_commit) {
    // The database's commit decided this sync: the journal counts only if it recorded it.
    if (!o.db_committed_sync) {
      return Status(Code::kConfig, "the journal " + JournalPath(state_dir) +
                                       " waits on a database commit, and [database] is not set");
    }
    HASYNC_ASSIGN_OR_RETURN(uint64_t committed, o.db_committed_sync());
    if (committed != journal->sync_id) {
      Log("apply")->warn("sync {} was interrupted before its database commit: discarding it",
                         journal->sync_id);
      Applier applier(env, *journal, {});
      HASYNC_RETURN_IF_ERROR(RemoveStagingDirs(env, *journal, applier));
      HASYNC_RETURN_IF_ERROR(SetRootsMeta(*journal, applier, false));
      HASYNC_RETURN_IF_ERROR(env.RemoveFile(JournalPath(state_dir)));
      HASYNC_RETURN_IF_ERROR(env.SyncDir(state_dir));
      return out;
    }
  }
  Log("apply")->warn("rolling forward sync {} interrupted by a crash", journal->sync_id);
  Status rolled = RollForward(env, state_dir, *journal);
  if (!rolled.ok()) {
    return Quarantine(
        env, state_dir,
        rolled.Context("sync " + std::to_string(journal->sync_id) + " cannot be rolled forward"));
  }
  out.rolled_forward = true;
  return out;
}

}  // namespace hasync::engine
