// Manifest storage: snapshot/FORMAT.md describes the layout.
#include "snapshot/manifest.h"

#include <algorithm>

#include "common/binary.h"
#include "common/hash.h"

namespace hasync::snapshot {
namespace {
constexpr uint32_t kMagic = 0x464d5348;  // "HSMF"
// 2: each entry's extended attributes after its link target. 3: the scan mark after the block
// size. 1 and 2 are still read (see Parse).
constexpr uint32_t kVersion = 3;
constexpr uint64_t kMaxEntries = 100'000'000;
constexpr uint64_t kMaxBlocks = uint64_t{1} << 32;
}  // namespace

Manifest::Manifest(std::vector<Entry> entries) : entries_(std::move(entries)) { Reindex(); }

void Manifest::Reindex() {
  auto by_path = [](const Entry& a, const Entry& b) { return a.path < b.path; };
  if (!std::is_sorted(entries_.begin(), entries_.end(), by_path)) {
    std::sort(entries_.begin(), entries_.end(), by_path);
  }
}

// Binary search over the sorted entries: no index to build, which a no-change sync of 20,000
// files felt (three manifests per run each hashed every path).
const Entry* Manifest::Find(std::string_view path) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), path,
                             [](const Entry& e, std::string_view p) { return e.path < p; });
  return it != entries_.end() && it->path == path ? &*it : nullptr;
}

bool QuickCheckMatches(const Entry& cached, const FileInfo& now) {
  return cached.hashed && cached.type == now.type && cached.size == now.size &&
         cached.mtime_ns == now.mtime_ns && cached.ctime_ns == now.ctime_ns &&
         cached.inode == now.inode;
}

// The on-disk encoding (FORMAT.md, versioned by kVersion). The Merkle tree's digest encodes a
// file entry separately (verify/merkle.cc) on purpose: that one is what peers compare, this one
// is a cache with node-local fields; neither format may move when the other does.
std::vector<std::byte> Manifest::Serialize() const {
  Encoder e;
  e.PutFixed32(kMagic);
  e.PutFixed32(kVersion);
  e.PutFixed32(static_cast<uint32_t>(kBlockSize));
  e.PutFixed64(mark_.gen);
  e.PutVarint(mark_.seq);
  e.PutSigned(mark_.full_scan_s);
  e.PutFixed64(mark_.filter_id);
  e.PutVarint(entries_.size());
  for (const Entry& x : entries_) {
    e.PutString(x.path);
    e.PutU8(static_cast<uint8_t>(x.type));
    e.PutVarint(x.mode);
    e.PutVarint(x.uid);
    e.PutVarint(x.gid);
    e.PutVarint(x.size);
    e.PutSigned(x.mtime_ns);
    e.PutSigned(x.ctime_ns);
    e.PutVarint(x.inode);
    e.PutVarint(x.device);
    e.PutVarint(x.nlink);
    e.PutString(x.link_target);
    PutXattrs(e, x.xattrs);
    e.PutU8(x.hashed ? 1 : 0);
    if (x.hashed) {
      e.PutFixed64(x.digest);
      e.PutVarint(x.blocks.size());
      e.PutRaw(x.blocks.data(), x.blocks.size() * sizeof(uint64_t));
    }
  }
  e.PutFixed64(Hash64(e.view()));
  return std::move(e.buffer());
}

Result<Manifest> Manifest::Parse(std::span<const std::byte> data) {
  if (data.size() < 20) return Status(Code::kIo, "manifest too short");
  Decoder trailer(data.subspan(data.size() - 8));
  HASYNC_ASSIGN_OR_RETURN(uint64_t sum, trailer.GetFixed64());
  auto body = data.first(data.size() - 8);
  if (Hash64(body) != sum) return Status(Code::kIo, "manifest checksum mismatch");
  Decoder d(body);
  auto parse = [&]() -> Result<Manifest> {
    HASYNC_ASSIGN_OR_RETURN(uint32_t magic, d.GetFixed32());
    HASYNC_ASSIGN_OR_RETURN(uint32_t version, d.GetFixed32());
    HASYNC_ASSIGN_OR_RETURN(uint32_t block, d.GetFixed32());
    if (magic != kMagic || version < 1 || version > kVersion || block != kBlockSize) {
      return Status(Code::kIo, "manifest of another format or block size");
    }
    ScanMark mark;
    if (version >= 3) {
      HASYNC_ASSIGN_OR_RETURN(mark.gen, d.GetFixed64());
      HASYNC_ASSIGN_OR_RETURN(mark.seq, d.GetVarint());
      HASYNC_ASSIGN_OR_RETURN(mark.full_scan_s, d.GetSigned());
      HASYNC_ASSIGN_OR_RETURN(mark.filter_id, d.GetFixed64());
    }
    HASYNC_ASSIGN_OR_RETURN(uint64_t n, d.GetVarint(kMaxEntries, "entry count"));
    // Each entry takes at least one byte: a count past what is left is refused before it sizes
    // anything (ci/fuzz.sh found a 16 GB allocation from a few bytes).
    if (n > d.remaining()) return Status(Code::kIo, "manifest entry count past its end");
    std::vector<Entry> entries(n);
    for (Entry& x : entries) {
      HASYNC_ASSIGN_OR_RETURN(x.path, d.GetString(4096));
      HASYNC_ASSIGN_OR_RETURN(uint8_t type, d.GetU8());
      if (type > 3) return Status(Code::kIo, "manifest entry of unknown type");
      x.type = static_cast<FileType>(type);
      HASYNC_ASSIGN_OR_RETURN(uint64_t mode, d.GetVarint(07777, "mode"));
      x.mode = static_cast<uint32_t>(mode);
      HASYNC_ASSIGN_OR_RETURN(uint64_t uid, d.GetVarint(UINT32_MAX, "uid"));
      HASYNC_ASSIGN_OR_RETURN(uint64_t gid, d.GetVarint(UINT32_MAX, "gid"));
      x.uid = static_cast<uint32_t>(uid);
      x.gid = static_cast<uint32_t>(gid);
      HASYNC_ASSIGN_OR_RETURN(x.size, d.GetVarint());
      HASYNC_ASSIGN_OR_RETURN(x.mtime_ns, d.GetSigned());
      HASYNC_ASSIGN_OR_RETURN(x.ctime_ns, d.GetSigned());
      HASYNC_ASSIGN_OR_RETURN(x.inode, d.GetVarint());
      HASYNC_ASSIGN_OR_RETURN(x.device, d.GetVarint());
      HASYNC_ASSIGN_OR_RETURN(x.nlink, d.GetVarint());
      HASYNC_ASSIGN_OR_RETURN(x.link_target, d.GetString(4096));
      if (version >= 2) {
        HASYNC_ASSIGN_OR_RETURN(x.xattrs, GetXattrs(d));
      }
      HASYNC_ASSIGN_OR_RETURN(uint8_t hashed, d.GetU8());
      x.hashed = hashed != 0;
      if (x.hashed) {
        HASYNC_ASSIGN_OR_RETURN(x.digest, d.GetFixed64());
        HASYNC_ASSIGN_OR_RETURN(uint64_t nb, d.GetVarint(kMaxBlocks, "block count"));
        if (nb != BlockCount(x.size) || nb * 8 > d.remaining()) {
          return Status(Code::kIo, "manifest block list does not match the file size");
        }
        x.blocks.resize(nb);
        for (uint64_t& b : x.blocks) {
          HASYNC_ASSIGN_OR_RETURN(b, d.GetFixed64());
        }
      }
    }
    HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
    Manifest m(std::move(entries));
    // Format 1 kept no attributes: its hashes stay good, its (empty) attributes are unknown.
    m.xattrs_known_ = version >= 2;
    m.mark_ = mark;
    return m;
  };
  auto r = parse();
  if (!r.ok()) return Status(Code::kIo, "damaged manifest: " + r.status().message());
  return r;
}

Result<Manifest> Manifest::Load(Env& env, const std::string& path) {
  auto data = ReadFileToString(env, path);
  if (!data.ok()) {
    if (data.status().code() == Code::kNotFound) return Manifest();
    return data.status();
  }
  return Parse(std::as_bytes(std::span<const char>(data->data(), data->size())));
}

Status Manifest::Save(Env& env, const std::string& path) const {
  return WriteFileAtomic(env, path, Serialize());
}

}  // namespace hasync::snapshot
