// The scan: a depth-first walk with lstat, then parallel hashing of what the cache missed.
#include "snapshot/scanner.h"

#include <fcntl.h>

#include <algorithm>
#include <memory>
#include <unordered_map>

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

// One entry of the folder rel as listed: false when it is not scanned (excluded, the staging
// folder, a socket, fifo or device).
Result<bool> MakeEntry(const RootDir& root, const std::string& rel, const DirEntryInfo& d,
                       const ScanOptions& o, UniqueFd& dir, ScanStats& stats, Entry& out) {
  if (rel.empty() && d.name == kStagingDirName) return false;
  std::string path = rel.empty() ? d.name : rel + "/" + d.name;
  const FileInfo& info = d.info;
  if (o.filter.Excluded(path, info.type == FileType::kDirectory)) return false;
  if (info.type == FileType::kOther) {
    ++stats.skipped_special;
    return false;
  }
  Entry e(std::move(path), info);
  if (info.type == FileType::kSymlink) {
    HASYNC_ASSIGN_OR_RETURN(e.link_target, ReadLinkBeneath(root, e.path));
  } else if (o.read_xattrs) {
    HASYNC_RETURN_IF_ERROR(ReadEntryXattrs(root, rel, d.name, o, dir, e));
  }
  if (info.type == FileType::kRegular) {
    const Entry* cached = o.cache && !o.rehash_all ? o.cache->Find(e.path) : nullptr;
    if (cached && QuickCheckMatches(*cached, info)) {
      e.hashed = true;
      e.blocks = cached->blocks;
      e.digest = cached->digest;
    }
  }
  out = std::move(e);
  return true;
}

Status Walk(const RootDir& root, const std::string& rel, const ScanOptions& o,
            std::vector<Entry>& out, ScanStats& stats) {
  HASYNC_ASSIGN_OR_RETURN(auto names, ListDirInfoBeneath(root, rel));
  UniqueFd dir;
  std::sort(names.begin(), names.end(),
            [](const DirEntryInfo& a, const DirEntryInfo& b) { return a.name < b.name; });
  for (const DirEntryInfo& d : names) {
    Entry e;
    HASYNC_ASSIGN_OR_RETURN(bool scanned, MakeEntry(root, rel, d, o, dir, stats, e));
    if (!scanned) continue;
    bool is_dir = e.type == FileType::kDirectory;
    std::string sub = e.path;
    out.push_back(std::move(e));
    if (is_dir) HASYNC_RETURN_IF_ERROR(Walk(root, sub, o, out, stats));
  }
  return Status::Ok();
}

// The cache's entries [first, last) that are rel's direct children ("" is the root).
std::pair<size_t, size_t> ChildRange(const std::vector<Entry>& v, const std::string& rel) {
  if (rel.empty()) return {0, v.size()};
  std::string prefix = rel + "/";
  auto lo = std::lower_bound(v.begin(), v.end(), prefix,
                             [](const Entry& e, const std::string& p) { return e.path < p; });
  auto hi = lo;
  while (hi != v.end() && hi->path.compare(0, prefix.size(), prefix) == 0) ++hi;
  return {static_cast<size_t>(lo - v.begin()), static_cast<size_t>(hi - v.begin())};
}

bool IsDirectChild(const std::string& path, const std::string& rel) {
  size_t from = rel.empty() ? 0 : rel.size() + 1;
  return path.find('/', from) == std::string::npos;
}

// Lists the changed folder rel again into fresh: its own entry (read through its parent) and
// its children; a child folder the cache does not hold as a folder is walked whole. Children
// the cache holds that are gone, or are no longer folders, go into gone (with all below them).
// A folder that is gone or excluded is skipped: its parent changed too and says so.
Status Relist(const RootDir& root, const std::string& rel, const ScanOptions& o,
              std::vector<Entry>& fresh, std::vector<std::string>& gone, ScanStats& stats) {
  const Manifest& cache = *o.cache;
  if (!rel.empty()) {
    // A folder a whole walk would not enter: the staging folder, an excluded folder or one
    // beneath it (the tracker watches those too; a filter tests one name at a time).
    for (size_t at = rel.find('/');; at = rel.find('/', at + 1)) {
      std::string up = rel.substr(0, at);
      if (up == kStagingDirName || o.filter.Excluded(up, true)) return Status::Ok();
      if (at == std::string::npos) break;
    }
    auto info = StatBeneath(root, rel);
    if (!info.ok()) {
      Code c = info.status().code();
      if (c == Code::kNotFound || c == Code::kUnsafePath) return Status::Ok();
      // ENOTDIR: a folder above it is no folder now; that folder's parent changed and says so.
      for (size_t at = rel.find('/'); at != std::string::npos; at = rel.find('/', at + 1)) {
        auto up = StatBeneath(root, rel.substr(0, at));
        if (!up.ok() || up->type != FileType::kDirectory) return Status::Ok();
      }
      return info.status();
    }
    if (info->type != FileType::kDirectory) return Status::Ok();
    size_t slash = rel.rfind('/');
    std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
    DirEntryInfo self{.name = rel.substr(slash == std::string::npos ? 0 : slash + 1),
                      .info = *info};
    UniqueFd parent_dir;
    Entry e;
    HASYNC_ASSIGN_OR_RETURN(bool scanned, MakeEntry(root, parent, self, o, parent_dir, stats, e));
    if (!scanned) return Status::Ok();
    fresh.push_back(std::move(e));
  }
  auto listed = ListDirInfoBeneath(root, rel);
  if (!listed.ok()) {
    // Gone (or swapped for a symlink) since its stat: the parent's change says so.
    Code c = listed.status().code();
    if (c == Code::kNotFound || c == Code::kUnsafePath) return Status::Ok();
    return listed.status();
  }
  ++stats.relisted_dirs;
  std::vector<std::string> names;
  names.reserve(listed->size());
  UniqueFd dir;
  for (const DirEntryInfo& d : *listed) {
    Entry e;
    HASYNC_ASSIGN_OR_RETURN(bool scanned, MakeEntry(root, rel, d, o, dir, stats, e));
    if (!scanned) continue;
    names.push_back(d.name);
    const Entry* was = cache.Find(e.path);
    if (was && was->type == FileType::kDirectory && e.type != FileType::kDirectory) {
      gone.push_back(e.path);
    }
    bool walk = e.type == FileType::kDirectory && (!was || was->type != FileType::kDirectory);
    std::string sub = e.path;
    fresh.push_back(std::move(e));
    if (walk) HASYNC_RETURN_IF_ERROR(Walk(root, sub, o, fresh, stats));
  }
  // Only what the scan keeps: a cached entry whose name is now a fifo, a socket, or a file
  // the include settings leave out is gone too.
  std::sort(names.begin(), names.end());
  const auto& v = cache.entries();
  auto [lo, hi] = ChildRange(v, rel);
  size_t from = rel.empty() ? 0 : rel.size() + 1;
  for (size_t i = lo; i < hi; ++i) {
    if (!IsDirectChild(v[i].path, rel)) continue;
    std::string_view name = std::string_view(v[i].path).substr(from);
    if (!std::binary_search(names.begin(), names.end(), name)) gone.push_back(v[i].path);
  }
  return Status::Ok();
}

bool SameEntry(const Entry& a, const Entry& b) {
  return a.type == b.type && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid &&
         a.size == b.size && a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns &&
         a.inode == b.inode && a.device == b.device && a.nlink == b.nlink &&
         a.link_target == b.link_target && a.xattrs == b.xattrs;
}

// The scan of o.changed_dirs only (ScanOptions): the cache's entries, less those replaced by a
// fresh one or beneath a folder that is gone, merged in path order with the fresh ones.
Status ScanChanged(const RootDir& root, const ScanOptions& o, std::vector<Entry>* take,
                   std::vector<Entry>& out, ScanStats& stats) {
  const std::vector<Entry>& old = o.cache->entries();
  std::vector<std::string> dirs = *o.changed_dirs;
  // A file with several links raises its events only in the folder of the path written
  // through: every folder holding one of its links is listed again.
  for (const Entry& e : old) {
    if (e.type != FileType::kRegular || e.nlink < 2) continue;
    size_t slash = e.path.rfind('/');
    dirs.push_back(slash == std::string::npos ? "" : e.path.substr(0, slash));
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  std::vector<Entry> fresh;
  std::vector<std::string> gone;
  for (const std::string& d : dirs) HASYNC_RETURN_IF_ERROR(Relist(root, d, o, fresh, gone, stats));
  // A link made now to a file the cache holds with one link (`ln a/x b/y` marks only b): the
  // folders of the cache's other paths of that inode are listed again too.
  std::vector<std::string> more;
  std::unordered_map<uint64_t, std::vector<size_t>> by_inode;
  for (const Entry& e : fresh) {
    if (e.type != FileType::kRegular || e.nlink < 2) continue;
    if (by_inode.empty()) {
      for (size_t i = 0; i < old.size(); ++i) {
        if (old[i].type == FileType::kRegular) by_inode[old[i].inode].push_back(i);
      }
    }
    auto it = by_inode.find(e.inode);
    if (it == by_inode.end()) continue;
    for (size_t i : it->second) {
      if (old[i].device != e.device || old[i].path == e.path) continue;
      size_t slash = old[i].path.rfind('/');
      std::string d = slash == std::string::npos ? "" : old[i].path.substr(0, slash);
      if (!std::binary_search(dirs.begin(), dirs.end(), d)) more.push_back(std::move(d));
    }
  }
  std::sort(more.begin(), more.end());
  more.erase(std::unique(more.begin(), more.end()), more.end());
  for (const std::string& d : more) HASYNC_RETURN_IF_ERROR(Relist(root, d, o, fresh, gone, stats));
  // Sorted by path, one entry per path (a folder walked whole and listed again is there twice).
  std::stable_sort(fresh.begin(), fresh.end(),
                   [](const Entry& a, const Entry& b) { return a.path < b.path; });
  fresh.erase(std::unique(fresh.begin(), fresh.end(),
                          [](const Entry& a, const Entry& b) { return a.path == b.path; }),
              fresh.end());
  std::vector<bool> drop(old.size(), false);
  auto at = [&](const std::string& p) {
    return static_cast<size_t>(
        std::lower_bound(old.begin(), old.end(), p,
                         [](const Entry& e, const std::string& q) { return e.path < q; }) -
        old.begin());
  };
  for (const std::string& g : gone) {
    size_t i = at(g);
    if (i < old.size() && old[i].path == g) {
      drop[i] = true;
      ++stats.differing;
    }
    auto [lo, hi] = ChildRange(old, g);
    for (size_t k = lo; k < hi; ++k) {
      if (!drop[k]) ++stats.differing;
      drop[k] = true;
    }
  }
  for (const Entry& e : fresh) {
    size_t i = at(e.path);
    bool same = i < old.size() && old[i].path == e.path && !drop[i] && SameEntry(old[i], e);
    if (i < old.size() && old[i].path == e.path) drop[i] = true;
    if (!same) ++stats.differing;
  }
  out.reserve(old.size() + fresh.size());
  size_t f = 0;
  for (size_t i = 0; i < old.size(); ++i) {
    if (drop[i]) continue;
    while (f < fresh.size() && fresh[f].path < old[i].path) out.push_back(std::move(fresh[f++]));
    if (take) {
      out.push_back(std::move((*take)[i]));
    } else {
      out.push_back(old[i]);
    }
  }
  while (f < fresh.size()) out.push_back(std::move(fresh[f++]));
  for (const Entry& e : out) {
    if (e.type != FileType::kRegular) continue;
    ++stats.files;
    stats.bytes += e.size;
  }
  stats.incremental = true;
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

namespace {

// The walk (whole, or of o.changed_dirs), then the hashing of what the cache did not cover.
Result<ScanResult> Scan(Env& env, const std::string& root, const ScanOptions& o,
                        std::vector<Entry>* take) {
  ScanResult r;
  std::vector<Entry> entries;
  HASYNC_ASSIGN_OR_RETURN(RootDir dir, RootDir::Open(root));
  if (o.cache && o.changed_dirs && !o.rehash_all) {
    HASYNC_RETURN_IF_ERROR(ScanChanged(dir, o, take, entries, r.stats).Context("scanning " + root));
  } else {
    HASYNC_RETURN_IF_ERROR(Walk(dir, "", o, entries, r.stats).Context("scanning " + root));
    for (const Entry& e : entries) {
      if (e.type != FileType::kRegular) continue;
      ++r.stats.files;
      r.stats.bytes += e.size;
    }
  }
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

}  // namespace

Result<ScanResult> ScanRoot(Env& env, const std::string& root, const ScanOptions& o) {
  return Scan(env, root, o, nullptr);
}

Result<ScanResult> ScanRootTaking(Env& env, const std::string& root, ScanOptions o,
                                  Manifest cache) {
  o.cache = &cache;
  return Scan(env, root, o, o.changed_dirs ? &cache.mutable_entries() : nullptr);
}

}  // namespace hasync::snapshot
