// Building the tree bottom-up from the sorted manifest, and comparing one level.
#include "verify/merkle.h"

#include <algorithm>

#include "common/binary.h"
#include "common/hash.h"

namespace hasync::verify {
namespace {

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

// A directory's digest over its children's names and what both sides must agree on. It encodes
// a file entry on its own, apart from the manifest's encoding (snapshot/manifest.cc), on
// purpose: the manifest is a versioned on-disk cache with node-local fields (inode, ctime),
// this is a comparison both peers compute, and either may change without the other.
uint64_t DigestOf(const std::vector<TreeChild>& children) {
  Encoder e;
  for (const TreeChild& c : children) {
    e.PutString(c.path.substr(c.path.rfind('/') + 1));
    e.PutU8(static_cast<uint8_t>(c.type));
    e.PutVarint(c.mode);
    e.PutVarint(c.size);
    e.PutSigned(c.mtime_ns);
    e.PutFixed64(c.digest);
    e.PutString(c.link_target);
  }
  return Hash64(e.view());
}

const std::vector<TreeChild> kNone;

}  // namespace

MerkleTree MerkleTree::Build(const snapshot::Manifest& m) {
  MerkleTree t;
  t.dirs_[""];
  for (const auto& e : m.entries()) {
    if (e.type == FileType::kDirectory) t.dirs_[e.path];
  }
  for (const auto& e : m.entries()) {
    TreeChild c{.path = e.path,
                .type = e.type,
                .mode = e.mode,
                .size = e.type == FileType::kRegular ? e.size : 0,
                .mtime_ns = e.type == FileType::kRegular ? e.mtime_ns : 0,
                .digest = e.type == FileType::kRegular ? e.digest : 0,
                .link_target = e.link_target};
    t.dirs_[Parent(e.path)].children.push_back(std::move(c));
  }
  // Deepest directories first, so each child directory's digest is known before its parent's.
  std::vector<std::string> order;
  for (const auto& [path, dir] : t.dirs_) order.push_back(path);
  std::sort(order.begin(), order.end(), [](const std::string& a, const std::string& b) {
    auto depth = [](const std::string& p) {
      return p.empty() ? 0 : 1 + std::count(p.begin(), p.end(), '/');
    };
    return depth(a) > depth(b);
  });
  for (const std::string& path : order) {
    Dir& d = t.dirs_[path];
    for (TreeChild& c : d.children) {
      if (c.type == FileType::kDirectory) c.digest = t.dirs_[c.path].digest;
    }
    d.digest = DigestOf(d.children);
  }
  return t;
}

uint64_t MerkleTree::Digest(const std::string& dir) const {
  auto it = dirs_.find(dir);
  return it == dirs_.end() ? 0 : it->second.digest;
}

const std::vector<TreeChild>& MerkleTree::Children(const std::string& dir) const {
  auto it = dirs_.find(dir);
  return it == dirs_.end() ? kNone : it->second.children;
}

void CompareChildren(const std::vector<TreeChild>& primary, const std::vector<TreeChild>& secondary,
                     std::vector<TreeDifference>& out, std::vector<std::string>& descend,
                     std::vector<std::string>& content) {
  size_t i = 0, j = 0;
  while (i < primary.size() || j < secondary.size()) {
    if (j == secondary.size() || (i < primary.size() && primary[i].path < secondary[j].path)) {
      out.push_back({primary[i].path,
                     primary[i].type == FileType::kDirectory
                         ? "missing on the Secondary (a directory and everything in it)"
                         : "missing on the Secondary",
                     {}});
      ++i;
      continue;
    }
    if (i == primary.size() || secondary[j].path < primary[i].path) {
      out.push_back({secondary[j].path, "not on the Primary", {}});
      ++j;
      continue;
    }
    const TreeChild& p = primary[i++];
    const TreeChild& s = secondary[j++];
    if (p.type != s.type) {
      out.push_back({p.path, "type differs", {}});
      continue;
    }
    std::string what;
    if (p.mode != s.mode) what += "mode, ";
    if (p.type == FileType::kSymlink && p.link_target != s.link_target) what += "symlink target, ";
    if (p.type == FileType::kRegular) {
      if (p.size != s.size) what += "size, ";
      if (p.mtime_ns != s.mtime_ns) what += "mtime, ";
      if (p.digest != s.digest) content.push_back(p.path);
    }
    if (!what.empty()) out.push_back({p.path, what.substr(0, what.size() - 2) + " differ", {}});
    if (p.type == FileType::kDirectory && p.digest != s.digest) descend.push_back(p.path);
  }
}

std::vector<std::pair<uint64_t, uint64_t>> DifferingBlocks(const std::vector<uint64_t>& primary,
                                                           const std::vector<uint64_t>& secondary) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  size_t n = std::max(primary.size(), secondary.size());
  for (size_t b = 0; b < n; ++b) {
    bool same = b < primary.size() && b < secondary.size() && primary[b] == secondary[b];
    if (same) continue;
    if (!out.empty() && out.back().second + 1 == b) {
      out.back().second = b;
    } else {
      out.emplace_back(b, b);
    }
  }
  return out;
}

}  // namespace hasync::verify
