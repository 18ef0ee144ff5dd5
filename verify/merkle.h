// A Merkle tree over a hashed manifest: each directory's digest covers its direct children's
// names, types, modes, sizes, file mtimes, content digests and symlink targets, and each child
// directory's own digest, so two roots are equal when their root digests are, and a difference
// is found by descending only into the directories whose digests differ (`hasync verify`).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "snapshot/manifest.h"

namespace hasync::verify {

// One child as the tree sees it. For a directory, digest is its subtree's digest.
struct TreeChild {
  std::string path;  // full path from the root
  FileType type = FileType::kRegular;
  uint32_t mode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // regular files only (directory mtimes move with staging)
  uint64_t digest = 0;
  std::string link_target;
};

class MerkleTree {
 public:
  // REQUIRES: every regular file of m hashed.
  static MerkleTree Build(const snapshot::Manifest& m);
  uint64_t RootDigest() const { return Digest(""); }
  // 0 when dir is not a directory of this tree.
  uint64_t Digest(const std::string& dir) const;
  // The direct children of dir, sorted by path; empty when none or not a directory.
  const std::vector<TreeChild>& Children(const std::string& dir) const;
  size_t directories() const { return dirs_.size(); }

 private:
  struct Dir {
    uint64_t digest = 0;
    std::vector<TreeChild> children;
  };
  std::map<std::string, Dir> dirs_;  // "" is the root
};

struct TreeDifference {
  std::string path;
  std::string what;  // "missing on the Secondary", "not on the Primary", "content", ...
  std::vector<std::pair<uint64_t, uint64_t>> blocks;  // differing block ranges, inclusive
};

// Compares one directory's children on both sides. Appends each difference found at this level;
// child directories whose subtree digests differ go to `descend`, regular files whose content
// differs to `content` (their blocks are compared next).
void CompareChildren(const std::vector<TreeChild>& primary, const std::vector<TreeChild>& secondary,
                     std::vector<TreeDifference>& out, std::vector<std::string>& descend,
                     std::vector<std::string>& content);

// Inclusive ranges of block indexes whose hashes differ, a length difference included.
std::vector<std::pair<uint64_t, uint64_t>> DifferingBlocks(const std::vector<uint64_t>& primary,
                                                           const std::vector<uint64_t>& secondary);

}  // namespace hasync::verify
