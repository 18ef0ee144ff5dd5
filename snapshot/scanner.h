// Scanner: walks a file root into a Manifest, re-using the block hashes of every file the
// previous manifest still describes (quick check) and hashing the rest across all cores,
// largest first, large files split by byte range. Symlinks are recorded, never followed.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "common/beneath.h"
#include "common/env.h"
#include "snapshot/filter.h"
#include "snapshot/manifest.h"

namespace hasync::snapshot {

// Names inside a root that belong to hasync and are never scanned or replicated.
constexpr std::string_view kStagingDirName = ".hasync-staging";

struct ScanOptions {
  Filter filter;
  const Manifest* cache = nullptr;  // previous manifest of this root, or none
  bool rehash_all = false;          // --checksum: ignore the cache
  bool hash_uncached = true;        // false: leave files the cache misses unhashed
  bool read_xattrs = true;          // the managed extended attributes (common/xattr.h)
  unsigned threads = 1;
  // With cache: walk only these folders ("" is the root), each one's own entry and its direct
  // children (a child folder the cache does not hold is walked whole); every other entry is the
  // cache's. REQUIRES: the cache is a whole scan with these options' filter, and every folder
  // changed since it began is listed (the change tracker's answer, engine/files/change_feed.h).
  const std::vector<std::string>* changed_dirs = nullptr;
};

struct ScanStats {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t hashed_files = 0;
  uint64_t hashed_bytes = 0;
  uint64_t skipped_special = 0;  // sockets, fifos, devices: not replicated
  // A scan of changed_dirs only: the folders listed again, and how many entries came out
  // different from the cache's (added, removed or changed).
  bool incremental = false;
  uint64_t relisted_dirs = 0;
  uint64_t differing = 0;
};

struct ScanResult {
  Manifest manifest;
  ScanStats stats;
};

// Scans root. REQUIRES: root is an existing directory.
Result<ScanResult> ScanRoot(Env& env, const std::string& root, const ScanOptions& options);

// ScanRoot with `cache` as o.cache, moving the unchanged entries out of it with changed_dirs
// instead of copying them (a no-change scan of 20,000 entries copied 4 MB of them).
Result<ScanResult> ScanRootTaking(Env& env, const std::string& root, ScanOptions o, Manifest cache);

// Hashes the blocks [first, first + count) of a file into out (one hash per block).
Status HashBlocks(RandomAccessFile& file, uint64_t size, uint64_t first, uint64_t count,
                  uint64_t* out);

// Hashes the still-unhashed regular files of entries (in place) across threads, each opened
// beneath the root's handle.
Status HashEntries(Env& env, const RootDir& root, std::vector<Entry*>& unhashed, unsigned threads);

}  // namespace hasync::snapshot
