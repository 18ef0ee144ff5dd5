// The scan: a depth-first walk with lstat, then parallel hashing of what the cache missed.
#include "snapshot/scanner.h"

#include <fcntl.h>

#include <algorithm>
#include <memory>

#include "common/beneath.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/parallel.h"
#include "common/path.h"

namespace hasync::snapshot {
namespace {

// Reads this many blocks per batch: 1 MiB per thread, one read (the ops are contiguous).
constexpr uint64_t kBatchBlocks = (1 << 20) / kBlockSize;
// Large files are hashed in pieces of this many blocks (64 MiB) so both cores share them.
constexpr uint64_t kPieceBlocks = (64 << 20) / kBlockSize;

// Lists and reads beneath the root's handle: a directory a local user swaps for a symlink during
// the scan is refused (kUnsafePath), never walked into, so serve cannot list or read outside.
// An entry's extended attributes: the cached ones while its inode and ctime are unchanged
// (setting or removing an attribute moves ctime, never mtime), else read through a handle on
// the entry opened beneath `dir`, the directory's own (opened on first need).
Status ReadEntryXattrs(const RootDir& root, const std::string& rel, const std::string& name,
                       const ScanOptions& o, UniqueFd& dir, Entry& e) {
  const Entry* c =
      o.cache && o.cache->xattrs_known() && !o.rehash_all ? o.cache->Find(e.path) : nullptr;
  if (c && c->type == e.type && c->inode == e.inode && c->ctime_ns == e.ctime_ns) {
    e.xattrs = c->xattrs;
    return Status::Ok();
  }
  if (dir.get() < 0) {
    if (rel.empty()) {
      dir = UniqueFd(::fcntl(root.fd(), F_DUPFD_CLOEXEC, 0));
      if (dir.get() < 0) return ErrnoStatus("dup of " + root.path(), errno);
    } else {
      HASYNC_ASSIGN_OR_RETURN(dir, root.OpenFd(rel, O_RDONLY | O_DIRECTORY));
    }
  }
  auto x = ReadXattrsAt(dir.get(), name, root.Describe(e.path));
  if (!x.ok() && x.status().code() != Code::kNotFound) return x.status();
  if (x.ok()) e.xattrs = std::move(*x);
  return Status::Ok();
}

Status Walk(const RootDir& root, const std::string& rel, const ScanOptions& o,
            std::vector<Entry>& out, ScanStats& stats) {
  HASYNC_ASSIGN_OR_RETURN(auto names, ListDirInfoBeneath(root, rel));
  UniqueFd dir;
  std::sort(names.begin(), names.end(),
            [](const DirEntryInfo& a, const DirEntryInfo& b) { return a.name < b.name; });
  for (const DirEntryInfo& d : names) {
    if (rel.empty() && d.name == kStagingDirName) continue;
    std::string path = rel.empty() ? d.name : rel + "/" + d.name;
    const FileInfo& info = d.info;
    bool is_dir = info.type == FileType::kDirectory;
    if (o.filter.Excluded(path, is_dir)) continue;
    if (info.type == FileType::kOther) {
      ++stats.skipped_special;
      continue;
    }
    Entry e(std::move(path), info);
    if (info.type == FileType::kSymlink) {
      HASYNC_ASSIGN_OR_RETURN(e.link_target, ReadLinkBeneath(root, e.path));
    } else if (o.read_xattrs) {
      HASYNC_RETURN_IF_ERROR(ReadEntryXattrs(root, rel, d.name, o, dir, e));
    }
    if (info.type == FileType::kRegular) {
      ++stats.files;
      stats.bytes += info.size;
      const Entry* cached = o.cache && !o.rehash_all ? o.cache->Find(e.path) : nullptr;
      if (cached && QuickCheckMatches(*cached, info)) {
        e.hashed = true;
        e.blocks = cached->blocks;
        e.digest = cached->digest;
      }
    }
    std::string sub = e.path;
    out.push_back(std::move(e));
    if (is_dir) HASYNC_RETURN_IF_ERROR(Walk(root, sub, o, out, stats));
  }
  return Status::Ok();
}

}  // namespace

Status HashBlocks(RandomAccessFile& file, uint64_t size, uint64_t first, uint64_t count,
                  uint64_t* out) {
  thread_local std::unique_ptr<std::byte[]> buf(new std::byte[kBatchBlocks * kBlockSize]);
  for (uint64_t b = first; b < first + count; b += kBatchBlocks) {
    uint64_t n = std::min(kBatchBlocks, first + count - b);
    ReadOp ops[kBatchBlocks];
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t off = (b + i) * kBlockSize;
      uint64_t len = std::min(kBlockSize, size - off);
      ops[i] = ReadOp{off, std::span<std::byte>(buf.get() + i * kBlockSize, len), 0};
    }
    HASYNC_RETURN_IF_ERROR(file.ReadMany(std::span<ReadOp>(ops, n)));
    for (uint64_t i = 0; i < n; ++i) {
      if (ops[i].done != ops[i].buf.size()) {
        return Status(Code::kIo, "file shrank while it was being read");
      }
      out[b + i - first] = Hash64(ops[i].buf);
    }
  }
  return Status::Ok();
}

Status HashEntries(Env& env, const RootDir& root, std::vector<Entry*>& unhashed, unsigned threads) {
  struct Piece {
    Entry* entry;
    uint64_t first;
    uint64_t count;
  };
  std::sort(unhashed.begin(), unhashed.end(), [](Entry* a, Entry* b) { return a->size > b->size; });
  std::vector<Piece> pieces;
  for (Entry* e : unhashed) {
    e->blocks.assign(BlockCount(e->size), 0);
    uint64_t nb = e->blocks.size();
    for (uint64_t f = 0; f < nb; f += kPieceBlocks) {
      pieces.push_back(Piece{e, f, std::min(kPieceBlocks, nb - f)});
    }
  }
  HASYNC_RETURN_IF_ERROR(RunParallel(pieces.size(), threads, [&](size_t i) -> Status {
    Piece& p = pieces[i];
    std::string path = root.Describe(p.entry->path);
    HASYNC_ASSIGN_OR_RETURN(auto file, env.OpenForReadAt(root, p.entry->path));
    return HashBlocks(*file, p.entry->size, p.first, p.count, p.entry->blocks.data() + p.first)
        .Context("hashing " + path);
  }));
  for (Entry* e : unhashed) {
    e->digest = FileDigest(e->blocks, e->size);
    e->hashed = true;
  }
  return Status::Ok();
}

Result<ScanResult> ScanRoot(Env& env, const std::string& root, const ScanOptions& o) {
  ScanResult r;
  std::vector<Entry> entries;
  HASYNC_ASSIGN_OR_RETURN(RootDir dir, RootDir::Open(root));
  HASYNC_RETURN_IF_ERROR(Walk(dir, "", o, entries, r.stats).Context("scanning " + root));
  if (o.hash_uncached) {
    std::vector<Entry*> unhashed;
    for (Entry& e : entries) {
      if (e.type == FileType::kRegular && !e.hashed) {
        unhashed.push_back(&e);
        ++r.stats.hashed_files;
        r.stats.hashed_bytes += e.size;
      }
    }
    HASYNC_RETURN_IF_ERROR(HashEntries(env, dir, unhashed, o.threads));
  }
  if (r.stats.skipped_special > 0) {
    Log("scan")->warn("{}: skipped {} sockets, fifos or device files (not replicated)", root,
                      r.stats.skipped_special);
  }
  r.manifest = Manifest(std::move(entries));
  return r;
}

}  // namespace hasync::snapshot
