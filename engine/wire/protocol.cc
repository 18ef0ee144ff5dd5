// Message codecs. Decoders consume the payload exactly and check each limit.
#include "engine/wire/protocol.h"

#include "snapshot/manifest.h"

namespace hasync::engine {

bool CountFits(uint64_t n, size_t min_bytes_each, size_t remaining) {
  if (min_bytes_each == 0) return true;
  return n <= remaining / min_bytes_each;
}

Result<uint64_t> GetCount(Decoder& d, uint64_t max, size_t min_bytes_each, const char* what) {
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, d.GetVarint(max, what));
  if (!CountFits(n, min_bytes_each, d.remaining())) {
    return Status(Code::kProtocol,
                  std::string(what) + " " + std::to_string(n) + " is more than the message holds");
  }
  return n;
}

const char* NodeHealthName(NodeHealth h) {
  switch (h) {
    case NodeHealth::kServing:
      return "serving";
    case NodeHealth::kDraining:
      return "draining";
    case NodeHealth::kNotServing:
      return "not serving";
    default:
      return "unknown";
  }
}

void Encode(const Hello& m, Encoder& e) {
  e.PutVarint(m.protocol_version);
  e.PutString(m.software_version);
  e.PutString(m.node_name);
  e.PutSigned(m.clock_ns);
  e.PutVarint(m.lineage.size());
  for (const auto& g : m.lineage) {
    e.PutVarint(g.id);
    e.PutVarint(g.number);
    e.PutString(g.node);
    e.PutSigned(g.at_ms);
  }
  e.PutU8(static_cast<uint8_t>((m.primary ? 1 : 0) | (m.active ? 2 : 0) | (m.ha_enabled ? 4 : 0) |
                               (m.superseded ? 8 : 0)));
  e.PutU8(static_cast<uint8_t>(m.health));
  e.PutString(m.health_detail.substr(0, kMaxHealthDetail));
  e.PutSigned(m.epoch);
}

Result<Hello> DecodeHello(std::span<const std::byte> p) {
  Decoder d(p);
  Hello m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t v, d.GetVarint(UINT32_MAX, "protocol version"));
  m.protocol_version = static_cast<uint32_t>(v);
  HASYNC_ASSIGN_OR_RETURN(m.software_version, d.GetString(256));
  HASYNC_ASSIGN_OR_RETURN(m.node_name, d.GetString(256));
  // Another protocol version may lay out the rest differently: what was read is enough for the
  // version gate to name both sides' versions.
  if (m.protocol_version != kProtocolVersion) return m;
  HASYNC_ASSIGN_OR_RETURN(m.clock_ns, d.GetSigned());
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxLineage, 4, "generation count"));
  m.lineage.resize(n);
  for (auto& g : m.lineage) {
    HASYNC_ASSIGN_OR_RETURN(g.id, d.GetVarint());
    HASYNC_ASSIGN_OR_RETURN(g.number, d.GetVarint());
    HASYNC_ASSIGN_OR_RETURN(g.node, d.GetString(256));
    HASYNC_ASSIGN_OR_RETURN(g.at_ms, d.GetSigned());
  }
  HASYNC_ASSIGN_OR_RETURN(uint8_t role, d.GetU8());
  if (role > 15) return Status(Code::kProtocol, "hello with unknown role flags");
  m.primary = role & 1;
  m.active = role & 2;
  m.ha_enabled = role & 4;
  m.superseded = role & 8;
  HASYNC_ASSIGN_OR_RETURN(uint8_t health, d.GetU8());
  if (health > static_cast<uint8_t>(NodeHealth::kNotServing)) {
    return Status(Code::kProtocol, "hello with unknown health " + std::to_string(health));
  }
  m.health = static_cast<NodeHealth>(health);
  HASYNC_ASSIGN_OR_RETURN(m.health_detail, d.GetString(kMaxHealthDetail));
  HASYNC_ASSIGN_OR_RETURN(m.epoch, d.GetSigned());
  if (m.epoch < 0) return Status(Code::kProtocol, "hello with a negative epoch");
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const ErrorMsg& m, Encoder& e) {
  e.PutVarint(m.code);
  e.PutString(m.message.substr(0, kMaxMessageString));
}

Result<ErrorMsg> DecodeError(std::span<const std::byte> p) {
  Decoder d(p);
  ErrorMsg m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t code, d.GetVarint(255, "error code"));
  m.code = static_cast<uint32_t>(code);
  HASYNC_ASSIGN_OR_RETURN(m.message, d.GetString(kMaxMessageString));
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const ListRequest& m, Encoder& e) {
  e.PutU8((m.rehash_all ? 1 : 0) | (m.owner_names ? 2 : 0));
  e.PutVarint(m.roots.size());
  for (const auto& r : m.roots) e.PutString(r);
}

Result<ListRequest> DecodeListRequest(std::span<const std::byte> p) {
  Decoder d(p);
  ListRequest m;
  HASYNC_ASSIGN_OR_RETURN(uint8_t flags, d.GetU8());
  if (flags > 3) return Status(Code::kProtocol, "list request with unknown flags");
  m.rehash_all = (flags & 1) != 0;
  m.owner_names = (flags & 2) != 0;
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxRoots, 1, "root count"));
  m.roots.resize(n);
  for (auto& r : m.roots) {
    HASYNC_ASSIGN_OR_RETURN(r, d.GetString(256));
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const ListEntries& m, Encoder& e) {
  e.PutVarint(m.root);
  e.PutVarint(m.entries.size());
  for (const WireEntry& x : m.entries) {
    e.PutString(x.path);
    e.PutU8(static_cast<uint8_t>(x.type));
    e.PutVarint(x.mode);
    e.PutVarint(x.uid);
    e.PutVarint(x.gid);
    e.PutVarint(x.size);
    e.PutSigned(x.mtime_ns);
    if (x.type == FileType::kSymlink) e.PutString(x.link_target);
    if (x.type == FileType::kRegular) {
      e.PutString(x.hardlink_to);
      e.PutU8(x.hashed ? 1 : 0);
      if (x.hashed) e.PutFixed64(x.digest);
    }
    PutXattrs(e, x.xattrs);
    e.PutVarint(x.names.size());
    for (const IdName& n : x.names) {
      e.PutU8(n.group ? 1 : 0);
      e.PutVarint(n.id);
      e.PutString(n.name);
    }
  }
}

namespace {

// The entry's attributes and names, each bounded (GetXattrs: count, name, value and total).
Status DecodeEntryMeta(Decoder& d, WireEntry& x) {
  HASYNC_ASSIGN_OR_RETURN(x.xattrs, GetXattrs(d));
  if (x.type == FileType::kSymlink && !x.xattrs.empty()) {
    return Status(Code::kProtocol, "a symlink with extended attributes");
  }
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxNamesPerEntry, 3, "owner name count"));
  x.names.resize(n);
  for (IdName& name : x.names) {
    HASYNC_ASSIGN_OR_RETURN(uint8_t kind, d.GetU8());
    if (kind > 1) return Status(Code::kProtocol, "an owner name of unknown kind");
    name.group = kind == 1;
    HASYNC_ASSIGN_OR_RETURN(uint64_t id, d.GetVarint(UINT32_MAX, "owner id"));
    name.id = static_cast<uint32_t>(id);
    HASYNC_ASSIGN_OR_RETURN(name.name, d.GetString(kMaxUserName));
    if (name.name.empty() || name.name.find('\0') != std::string::npos) {
      return Status(Code::kProtocol, "an empty or bad owner name");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ListEntries> DecodeListEntries(std::span<const std::byte> p) {
  Decoder d(p);
  ListEntries m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t root, d.GetVarint(kMaxRoots, "root index"));
  m.root = static_cast<uint32_t>(root);
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxEntriesPerMessage, 7, "entry count"));
  m.entries.resize(n);
  for (WireEntry& x : m.entries) {
    HASYNC_ASSIGN_OR_RETURN(x.path, d.GetString(kMaxMessageString));
    HASYNC_ASSIGN_OR_RETURN(uint8_t type, d.GetU8());
    if (type > 2) return Status(Code::kProtocol, "list entry of unknown type");
    x.type = static_cast<FileType>(type);
    HASYNC_ASSIGN_OR_RETURN(uint64_t mode, d.GetVarint(07777, "mode"));
    HASYNC_ASSIGN_OR_RETURN(uint64_t uid, d.GetVarint(UINT32_MAX, "uid"));
    HASYNC_ASSIGN_OR_RETURN(uint64_t gid, d.GetVarint(UINT32_MAX, "gid"));
    x.mode = static_cast<uint32_t>(mode);
    x.uid = static_cast<uint32_t>(uid);
    x.gid = static_cast<uint32_t>(gid);
    HASYNC_ASSIGN_OR_RETURN(x.size, d.GetVarint(uint64_t{1} << 50, "file size"));
    HASYNC_ASSIGN_OR_RETURN(x.mtime_ns, d.GetSigned());
    if (x.type == FileType::kSymlink) {
      HASYNC_ASSIGN_OR_RETURN(x.link_target, d.GetString(kMaxMessageString));
    }
    if (x.type == FileType::kRegular) {
      HASYNC_ASSIGN_OR_RETURN(x.hardlink_to, d.GetString(kMaxMessageString));
      HASYNC_ASSIGN_OR_RETURN(uint8_t hashed, d.GetU8());
      if (hashed > 1) return Status(Code::kProtocol, "list entry with a bad flag");
      x.hashed = hashed == 1;
      if (x.hashed) {
        HASYNC_ASSIGN_OR_RETURN(x.digest, d.GetFixed64());
      }
    } else if (x.size != 0) {
      return Status(Code::kProtocol, "a directory or symlink entry with a size");
    }
    HASYNC_RETURN_IF_ERROR(DecodeEntryMeta(d, x).Context("list entry '" + x.path + "'"));
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const FileRequest& m, Encoder& e) {
  e.PutVarint(m.id);
  e.PutVarint(m.root);
  e.PutString(m.path);
  e.PutU8(static_cast<uint8_t>(m.kind));
  if (m.kind == RequestKind::kBlocks) {
    e.PutVarint(m.have_blocks.size());
    e.PutRaw(m.have_blocks.data(), m.have_blocks.size() * sizeof(uint64_t));
  }
  if (m.kind == RequestKind::kDelta) e.PutString(m.signature);
}

Result<std::vector<FileRequest>> DecodeFileRequests(std::span<const std::byte> p) {
  Decoder d(p);
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxEntriesPerMessage, 4, "request count"));
  std::vector<FileRequest> out(n);
  for (FileRequest& r : out) {
    HASYNC_ASSIGN_OR_RETURN(uint64_t id, d.GetVarint(UINT32_MAX, "request id"));
    HASYNC_ASSIGN_OR_RETURN(uint64_t root, d.GetVarint(kMaxRoots, "root index"));
    r.id = static_cast<uint32_t>(id);
    r.root = static_cast<uint32_t>(root);
    HASYNC_ASSIGN_OR_RETURN(r.path, d.GetString(kMaxMessageString));
    HASYNC_ASSIGN_OR_RETURN(uint8_t kind, d.GetU8());
    if (kind > 2) return Status(Code::kProtocol, "file request of unknown kind");
    r.kind = static_cast<RequestKind>(kind);
    if (r.kind == RequestKind::kBlocks) {
      HASYNC_ASSIGN_OR_RETURN(uint64_t nb, GetCount(d, kMaxBlocksPerRequest, 8, "block count"));
      r.have_blocks.resize(nb);
      for (uint64_t& h : r.have_blocks) {
        HASYNC_ASSIGN_OR_RETURN(h, d.GetFixed64());
      }
    }
    if (r.kind == RequestKind::kDelta) {
      HASYNC_ASSIGN_OR_RETURN(r.signature, d.GetString(kMaxSignature));
    }
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return out;
}

void Encode(const FileDelta& m, Encoder& e) {
  e.PutVarint(m.id);
  e.PutVarint(m.offset);
  e.PutVarint(m.length);
  e.PutBytes(m.delta);
}

Result<FileDelta> DecodeFileDelta(std::span<const std::byte> p) {
  Decoder d(p);
  FileDelta m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t id, d.GetVarint(UINT32_MAX, "request id"));
  m.id = static_cast<uint32_t>(id);
  HASYNC_ASSIGN_OR_RETURN(m.offset,
                          d.GetVarint(kMaxBlocksPerRequest * snapshot::kBlockSize, "delta offset"));
  if (m.offset % snapshot::kBlockSize != 0) {
    return Status(Code::kProtocol, "delta range does not start on a block");
  }
  HASYNC_ASSIGN_OR_RETURN(m.length, d.GetVarint(kMaxDeltaRange, "delta range length"));
  if (m.length == 0) return Status(Code::kProtocol, "empty delta range");
  HASYNC_ASSIGN_OR_RETURN(m.delta, d.GetSpan(kMaxDelta));
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const FileData& m, Encoder& e) {
  e.PutVarint(m.id);
  e.PutVarint(m.first_block);
  e.PutVarint(m.hashes.size());
  e.PutRaw(m.hashes.data(), m.hashes.size() * sizeof(uint64_t));
  e.PutBytes(m.data);
}

Result<FileData> DecodeFileData(std::span<const std::byte> p) {
  Decoder d(p);
  FileData m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t id, d.GetVarint(UINT32_MAX, "request id"));
  m.id = static_cast<uint32_t>(id);
  HASYNC_ASSIGN_OR_RETURN(m.first_block, d.GetVarint(kMaxBlocksPerRequest, "block index"));
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, 256, 8, "blocks in a data message"));
  if (n == 0) return Status(Code::kProtocol, "data message without blocks");
  m.hashes.resize(n);
  for (uint64_t& h : m.hashes) {
    HASYNC_ASSIGN_OR_RETURN(h, d.GetFixed64());
  }
  HASYNC_ASSIGN_OR_RETURN(m.data, d.GetSpan(n * snapshot::kBlockSize));
  // Every block but the last of the run is whole; the last may be a file's short tail.
  if (m.data.size() <= (n - 1) * snapshot::kBlockSize) {
    return Status(Code::kProtocol, "data message shorter than its block count");
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const FileDone& m, Encoder& e) {
  e.PutVarint(m.id);
  e.PutU8(m.vanished ? 1 : 0);
  e.PutVarint(m.size);
  e.PutFixed64(m.digest);
  e.PutSigned(m.mtime_ns);
}

Result<FileDone> DecodeFileDone(std::span<const std::byte> p) {
  Decoder d(p);
  FileDone m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t id, d.GetVarint(UINT32_MAX, "request id"));
  m.id = static_cast<uint32_t>(id);
  HASYNC_ASSIGN_OR_RETURN(uint8_t vanished, d.GetU8());
  if (vanished > 1) return Status(Code::kProtocol, "file-done with a bad flag");
  m.vanished = vanished == 1;
  HASYNC_ASSIGN_OR_RETURN(m.size, d.GetVarint(uint64_t{1} << 50, "file size"));
  HASYNC_ASSIGN_OR_RETURN(m.digest, d.GetFixed64());
  HASYNC_ASSIGN_OR_RETURN(m.mtime_ns, d.GetSigned());
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const FileHole& m, Encoder& e) {
  e.PutVarint(m.id);
  e.PutVarint(m.offset);
  e.PutVarint(m.length);
}

Result<FileHole> DecodeFileHole(std::span<const std::byte> p) {
  Decoder d(p);
  FileHole m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t id, d.GetVarint(UINT32_MAX, "request id"));
  m.id = static_cast<uint32_t>(id);
  constexpr uint64_t kMaxFile = kMaxBlocksPerRequest * snapshot::kBlockSize;
  HASYNC_ASSIGN_OR_RETURN(m.offset, d.GetVarint(kMaxFile, "hole offset"));
  if (m.offset % snapshot::kBlockSize != 0) {
    return Status(Code::kProtocol, "hole does not start on a block");
  }
  HASYNC_ASSIGN_OR_RETURN(m.length, d.GetVarint(kMaxFile - m.offset, "hole length"));
  if (m.length == 0) return Status(Code::kProtocol, "empty hole");
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const ListEnd& m, Encoder& e) {
  e.PutVarint(m.roots.size());
  for (const RootMeta& r : m.roots) {
    e.PutVarint(r.mode);
    e.PutVarint(r.uid);
    e.PutVarint(r.gid);
    e.PutSigned(r.mtime_ns);
  }
}

Result<ListEnd> DecodeListEnd(std::span<const std::byte> p) {
  Decoder d(p);
  ListEnd m;
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxRoots, 4, "root count"));
  m.roots.resize(n);
  for (RootMeta& r : m.roots) {
    HASYNC_ASSIGN_OR_RETURN(uint64_t mode, d.GetVarint(07777, "mode"));
    HASYNC_ASSIGN_OR_RETURN(uint64_t uid, d.GetVarint(UINT32_MAX, "uid"));
    HASYNC_ASSIGN_OR_RETURN(uint64_t gid, d.GetVarint(UINT32_MAX, "gid"));
    r.mode = static_cast<uint32_t>(mode);
    r.uid = static_cast<uint32_t>(uid);
    r.gid = static_cast<uint32_t>(gid);
    HASYNC_ASSIGN_OR_RETURN(r.mtime_ns, d.GetSigned());
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const Done& m, Encoder& e) {
  e.PutVarint(m.files_sent);
  e.PutVarint(m.bytes_read);
}

Result<Done> DecodeDone(std::span<const std::byte> p) {
  Decoder d(p);
  Done m;
  HASYNC_ASSIGN_OR_RETURN(m.files_sent, d.GetVarint());
  HASYNC_ASSIGN_OR_RETURN(m.bytes_read, d.GetVarint());
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

const char* MsgName(uint8_t type) {
  switch (static_cast<MsgType>(type)) {
#define HASYNC_X(name, value, text) \
  case MsgType::name:               \
    return text;
    HASYNC_MESSAGE_TYPES(HASYNC_X)
#undef HASYNC_X
  }
  return "unknown message";
}

}  // namespace hasync::engine
