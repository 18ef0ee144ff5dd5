// Manifest: what a file root holds, entry by entry, with per-block xxh3 hashes of every regular
// file. Both peers keep one per root in their state folder from the last run; it is the cache
// that lets a scan skip re-reading files whose size, mtime, ctime and inode are unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/env.h"
#include "common/status.h"

namespace hasync::snapshot {

// Fixed block size of the block-level delta and of verification. 8 KiB: a 256 MiB file has
// 32,768 hashes (256 KiB to send, 0.1% of the file), and a small in-place change moves about
// 8 KiB instead of the 64 KiB a coarser block would (bench/run.sh's 1% case moved half of
// rsync's bytes this way). Reads are never this small: contiguous blocks are read together.
constexpr uint64_t kBlockSize = 8 * 1024;

inline uint64_t BlockCount(uint64_t size) { return (size + kBlockSize - 1) / kBlockSize; }

// A file as scanned: its stat data (FileInfo: type, mode, owner, size, mtime, and the cache key
// beside size and mtime, ctime, inode and device, which is local to this node and never
// compared across peers), its path and, once hashed, its block hashes. The wire's list entry
// (engine/wire/protocol.h's WireEntry) is a subset of it on purpose: no node-local fields.
struct Entry : FileInfo {
  Entry() { type = FileType::kRegular; }
  // Takes info's stat data (a non-regular file's size is 0).
  Entry(std::string p, const FileInfo& info) : FileInfo(info), path(std::move(p)) {
    if (type != FileType::kRegular) size = 0;
  }

  std::string path;              // relative to the root, '/'-separated
  std::string link_target;       // symlinks only
  bool hashed = false;           // blocks and digest are valid
  std::vector<uint64_t> blocks;  // xxh3 of each kBlockSize block
  uint64_t digest = 0;           // FileDigest(blocks, size)
  XattrList xattrs;              // managed extended attributes and ACLs (not symlinks')
};

// What the change tracker (engine/files/change_feed.h) answered just before the scan that made a
// manifest began: while the tracker's generation is the same, an entry of the manifest still
// holds unless its folder changed after seq. gen 0: untracked (the next scan walks everything).
struct ScanMark {
  uint64_t gen = 0;
  uint64_t seq = 0;
  int64_t full_scan_s = 0;  // unix time of the last whole walk the manifest descends from
  uint64_t filter_id = 0;   // snapshot::Filter::Fingerprint() of the scans' include/exclude
};

class Manifest {
 public:
  Manifest() = default;
  explicit Manifest(std::vector<Entry> entries);  // sorts by path
  // The index holds views into entries_: a copy re-indexes; a move keeps the vector's buffer.
  Manifest(const Manifest& other)
      : entries_(other.entries_), xattrs_known_(other.xattrs_known_), mark_(other.mark_) {
    Reindex();
  }
  Manifest& operator=(const Manifest& other) {
    entries_ = other.entries_;
    xattrs_known_ = other.xattrs_known_;
    mark_ = other.mark_;
    Reindex();
    return *this;
  }
  Manifest(Manifest&&) = default;
  Manifest& operator=(Manifest&&) = default;

  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>& mutable_entries() { return entries_; }
  // nullptr when absent.
  const Entry* Find(std::string_view path) const;
  // False for a manifest of format 1, written before attributes were recorded: its entries'
  // (empty) xattrs say nothing, so a scan must not reuse them.
  bool xattrs_known() const { return xattrs_known_; }
  const ScanMark& mark() const { return mark_; }
  void set_mark(const ScanMark& m) { mark_ = m; }
  // Call after changing entries' paths or order: restores the order by path Find relies on.
  void Reindex();

  std::vector<std::byte> Serialize() const;
  static Result<Manifest> Parse(std::span<const std::byte> data);
  // Loads path; a missing file is an empty manifest. A damaged one is kIo (the caller may
  // discard it: it is only a cache).
  static Result<Manifest> Load(Env& env, const std::string& path);
  Status Save(Env& env, const std::string& path) const;

 private:
  std::vector<Entry> entries_;  // sorted by path
  bool xattrs_known_ = true;
  ScanMark mark_;
};

// True when the cached entry still describes the file on disk, so its hashes can be reused.
bool QuickCheckMatches(const Entry& cached, const FileInfo& now);

}  // namespace hasync::snapshot
