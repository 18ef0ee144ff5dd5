// Verify message codecs. Decoders consume the payload exactly and check each limit.
#include "engine/wire/verify_protocol.h"

#include "engine/wire/protocol.h"

namespace hasync::engine {
namespace {

constexpr size_t kMaxPaths = 1 << 16;
constexpr size_t kMaxTables = 1 << 16;
constexpr size_t kMaxHashesPerMessage = 1 << 19;  // 4 MiB of hashes

constexpr size_t kMaxBounds = 1 << 14;

Status CheckDecimal(const std::string& h) {
  for (size_t i = 0; i < h.size(); ++i) {
    char c = h[i];
    if ((c < '0' || c > '9') && !(c == '-' && i == 0)) {
      return Status(Code::kProtocol, "verify tables: a hash not decimal");
    }
  }
  return Status::Ok();
}

Result<bool> GetFlag(Decoder& d, const char* what) {
  HASYNC_ASSIGN_OR_RETURN(uint8_t v, d.GetU8());
  if (v > 1) return Status(Code::kProtocol, std::string("bad flag: ") + what);
  return v == 1;
}

}  // namespace

void Encode(const VerifyRequest& m, Encoder& e) {
  e.PutU8(static_cast<uint8_t>((m.database ? 1 : 0) | (m.rehash_all ? 2 : 0)));
  e.PutVarint(m.roots.size());
  for (const auto& r : m.roots) e.PutString(r);
}

Result<VerifyRequest> DecodeVerifyRequest(std::span<const std::byte> p) {
  Decoder d(p);
  VerifyRequest m;
  HASYNC_ASSIGN_OR_RETURN(uint8_t flags, d.GetU8());
  if (flags > 3) return Status(Code::kProtocol, "verify request with unknown flags");
  m.database = flags & 1;
  m.rehash_all = flags & 2;
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxRoots, 1, "root count"));
  m.roots.resize(n);
  for (auto& r : m.roots) {
    HASYNC_ASSIGN_OR_RETURN(r, d.GetString(256));
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const VerifyRoot& m, Encoder& e) {
  e.PutVarint(m.root);
  e.PutVarint(m.entries);
  e.PutFixed64(m.digest);
}

Result<VerifyRoot> DecodeVerifyRoot(std::span<const std::byte> p) {
  Decoder d(p);
  VerifyRoot m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t root, d.GetVarint(kMaxRoots, "root index"));
  m.root = static_cast<uint32_t>(root);
  HASYNC_ASSIGN_OR_RETURN(m.entries, d.GetVarint());
  HASYNC_ASSIGN_OR_RETURN(m.digest, d.GetFixed64());
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const VerifyTables& m, Encoder& e) {
  e.PutVarint(m.tables.size());
  for (const auto& t : m.tables) {
    e.PutString(t.table);
    e.PutVarint(t.rows);
    e.PutString(t.hash);
    e.PutU8(t.rows_replicated ? 1 : 0);
    e.PutString(t.key);
    e.PutVarint(t.bounds.size());
    for (const auto& b : t.bounds) e.PutString(b);
    e.PutVarint(t.buckets.size());
    for (const auto& b : t.buckets) {
      e.PutVarint(b.rows);
      e.PutString(b.hash);
    }
  }
}

Result<VerifyTables> DecodeVerifyTables(std::span<const std::byte> p) {
  Decoder d(p);
  VerifyTables m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxTables, 7, "table count"));
  m.tables.resize(n);
  for (auto& t : m.tables) {
    HASYNC_ASSIGN_OR_RETURN(t.table, d.GetString(300));
    HASYNC_ASSIGN_OR_RETURN(t.rows, d.GetVarint());
    HASYNC_ASSIGN_OR_RETURN(t.hash, d.GetString(64));
    HASYNC_RETURN_IF_ERROR(CheckDecimal(t.hash));
    HASYNC_ASSIGN_OR_RETURN(t.rows_replicated, GetFlag(d, "rows replicated"));
    HASYNC_ASSIGN_OR_RETURN(t.key, d.GetString(64));
    HASYNC_ASSIGN_OR_RETURN(uint64_t nb, GetCount(d, kMaxBounds, 1, "key range count"));
    t.bounds.resize(nb);
    for (auto& b : t.bounds) {
      HASYNC_ASSIGN_OR_RETURN(b, d.GetString(kMaxMessageString));
    }
    HASYNC_ASSIGN_OR_RETURN(uint64_t nk, GetCount(d, kMaxBounds + 1, 2, "bucket count"));
    if (nk != 0 && nk != nb + 1) {
      return Status(Code::kProtocol, "verify tables: bucket count does not match the bounds");
    }
    t.buckets.resize(nk);
    for (auto& b : t.buckets) {
      HASYNC_ASSIGN_OR_RETURN(b.rows, d.GetVarint());
      HASYNC_ASSIGN_OR_RETURN(b.hash, d.GetString(64));
      HASYNC_RETURN_IF_ERROR(CheckDecimal(b.hash));
    }
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const VerifyPaths& m, Encoder& e) {
  e.PutVarint(m.root);
  e.PutVarint(m.paths.size());
  for (const auto& path : m.paths) e.PutString(path);
}

Result<VerifyPaths> DecodeVerifyPaths(std::span<const std::byte> p) {
  Decoder d(p);
  VerifyPaths m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t root, d.GetVarint(kMaxRoots, "root index"));
  m.root = static_cast<uint32_t>(root);
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxPaths, 1, "path count"));
  m.paths.resize(n);
  for (auto& path : m.paths) {
    HASYNC_ASSIGN_OR_RETURN(path, d.GetString(kMaxMessageString));
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const VerifyChildren& m, Encoder& e) {
  e.PutVarint(m.root);
  e.PutU8(m.last ? 1 : 0);
  e.PutVarint(m.children.size());
  for (const auto& c : m.children) {
    e.PutString(c.path);
    e.PutU8(static_cast<uint8_t>(c.type));
    e.PutVarint(c.mode);
    e.PutVarint(c.size);
    e.PutSigned(c.mtime_ns);
    e.PutFixed64(c.digest);
    e.PutString(c.link_target);
  }
}

Result<VerifyChildren> DecodeVerifyChildren(std::span<const std::byte> p) {
  Decoder d(p);
  VerifyChildren m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t root, d.GetVarint(kMaxRoots, "root index"));
  m.root = static_cast<uint32_t>(root);
  HASYNC_ASSIGN_OR_RETURN(m.last, GetFlag(d, "last"));
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxEntriesPerMessage, 14, "child count"));
  m.children.resize(n);
  for (auto& c : m.children) {
    HASYNC_ASSIGN_OR_RETURN(c.path, d.GetString(kMaxMessageString));
    HASYNC_ASSIGN_OR_RETURN(uint8_t type, d.GetU8());
    if (type > 2) return Status(Code::kProtocol, "verify child of unknown type");
    c.type = static_cast<FileType>(type);
    HASYNC_ASSIGN_OR_RETURN(uint64_t mode, d.GetVarint(07777, "mode"));
    c.mode = static_cast<uint32_t>(mode);
    HASYNC_ASSIGN_OR_RETURN(c.size, d.GetVarint(uint64_t{1} << 50, "file size"));
    HASYNC_ASSIGN_OR_RETURN(c.mtime_ns, d.GetSigned());
    HASYNC_ASSIGN_OR_RETURN(c.digest, d.GetFixed64());
    HASYNC_ASSIGN_OR_RETURN(c.link_target, d.GetString(kMaxMessageString));
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const VerifyBlocks& m, Encoder& e) {
  e.PutVarint(m.root);
  e.PutString(m.path);
  e.PutVarint(m.first);
  e.PutU8(static_cast<uint8_t>((m.last ? 1 : 0) | (m.missing ? 2 : 0)));
  e.PutVarint(m.hashes.size());
  for (uint64_t h : m.hashes) e.PutFixed64(h);
}

Result<VerifyBlocks> DecodeVerifyBlocks(std::span<const std::byte> p) {
  Decoder d(p);
  VerifyBlocks m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t root, d.GetVarint(kMaxRoots, "root index"));
  m.root = static_cast<uint32_t>(root);
  HASYNC_ASSIGN_OR_RETURN(m.path, d.GetString(kMaxMessageString));
  HASYNC_ASSIGN_OR_RETURN(m.first, d.GetVarint(kMaxBlocksPerRequest, "first block"));
  HASYNC_ASSIGN_OR_RETURN(uint8_t flags, d.GetU8());
  if (flags > 3) return Status(Code::kProtocol, "verify blocks with unknown flags");
  m.last = flags & 1;
  m.missing = flags & 2;
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxHashesPerMessage, 8, "block hash count"));
  m.hashes.resize(n);
  for (auto& h : m.hashes) {
    HASYNC_ASSIGN_OR_RETURN(h, d.GetFixed64());
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

}  // namespace hasync::engine
