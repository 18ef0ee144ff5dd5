// The sync protocol's messages (engine/FORMAT.md): what travels inside frames. Each message has
// an Encode and a strict Decode that checks every count and length against its limit, so a
// hostile or broken peer's bytes become one clear error.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/binary.h"
#include "common/env.h"
#include "common/status.h"
#include "engine/state/generation.h"

namespace hasync::engine {

// Bumped on any incompatible change to this file or the frame format.
// 2: rolling deltas, 8 KiB blocks; 3: database; 4: generation lineage and role in hello;
// 5: verify, pinned and repairing database requests; 8: the roots' own metadata in list end,
// file holes, extended attributes, ACLs and owner names in the list; 9: hasync's own rolling
// delta (xxh3 strong sums) in place of librsync's.
constexpr uint32_t kProtocolVersion = 9;

// The closed table of message types: X(enumerator, wire value, name in error messages).
// engine/FORMAT.md describes each; the names are what "expected X, got Y" errors say.
#define HASYNC_MESSAGE_TYPES(X)                                                            \
  X(kHello, 1, "hello")                                                                    \
  X(kError, 2, "error")                                                                    \
  X(kListRequest, 3, "list request")                                                       \
  X(kListEntries, 4, "list entries")                                                       \
  X(kListEnd, 5, "list end")                                                               \
  X(kFileRequests, 6, "file requests")                                                     \
  X(kRequestsEnd, 7, "requests end")                                                       \
  X(kFileData, 8, "file data")                                                             \
  X(kFileDone, 9, "file done")                                                             \
  X(kDone, 10, "done")                                                                     \
  X(kCommitted, 11, "committed")                                                           \
  X(kFileDelta, 12, "file delta")                                                          \
  /* S→P right after hello: a connection test, nothing more (`hasync trust test`). */    \
  X(kBye, 13, "bye")                                                                       \
  /* The database part (engine/wire/db_protocol.h), between hello and the list request. */ \
  X(kDbRequest, 14, "database request")                                                    \
  X(kDbBegin, 15, "database begin")                                                        \
  X(kDbSql, 16, "database schema")                                                         \
  X(kDbCopyBegin, 17, "table copy begin")                                                  \
  X(kDbCopyData, 18, "table copy data")                                                    \
  X(kDbCopyEnd, 19, "table copy end")                                                      \
  X(kDbChanges, 20, "database changes")                                                    \
  X(kDbSequences, 21, "sequence values")                                                   \
  X(kDbEnd, 22, "database end")                                                            \
  /* `hasync verify` (engine/wire/verify_protocol.h), instead of a sync after hello. */    \
  X(kVerifyRequest, 23, "verify request")                                                  \
  X(kVerifyRoot, 24, "verify root")                                                        \
  X(kVerifyTables, 25, "verify tables")                                                    \
  X(kVerifyDirs, 26, "verify dirs")                                                        \
  X(kVerifyChildren, 27, "verify children")                                                \
  X(kVerifyBlocksRequest, 28, "verify blocks request")                                     \
  X(kVerifyBlocks, 29, "verify blocks")                                                    \
  X(kFileHole, 30, "file hole")

enum class MsgType : uint8_t {
#define HASYNC_X(name, value, text) name = value,
  HASYNC_MESSAGE_TYPES(HASYNC_X)
#undef HASYNC_X
};

// The byte a frame carries for t.
constexpr uint8_t U8(MsgType t) { return static_cast<uint8_t>(t); }

// A serving node's health as its hello reports it. kUnknown: not judged (a Secondary, the
// pulling side, or a node without status pages, whose load balancer cannot use hasync's).
enum class NodeHealth : uint8_t { kUnknown = 0, kServing = 1, kDraining = 2, kNotServing = 3 };
const char* NodeHealthName(NodeHealth h);

struct Hello {
  uint32_t protocol_version = kProtocolVersion;
  std::string software_version;
  std::string node_name;
  int64_t clock_ns = 0;  // wall clock, for the clock-skew gate
  Lineage lineage;       // the generations the node's data descends from (DESIGN.md invariant 8)
  // The node's role as it sees it: what a heartbeat and the split-brain guard need.
  bool primary = false;  // mode primary
  bool active = false;   // node status active
  bool ha_enabled = false;
  bool superseded = false;  // a Primary that knows another Primary took over
  // What the load balancer would judge of this node, from its serve side: whether its daemon
  // (which answers /status/status.html) is alive and serving (engine/session/hello.h).
  NodeHealth health = NodeHealth::kUnknown;
  std::string health_detail;  // why, when not serving or draining
  int64_t epoch = 0;          // the node's fencing epoch ([failover] etcd); 0: none
};

struct ErrorMsg {
  uint32_t code = 0;
  std::string message;
};

struct ListRequest {
  bool rehash_all = false;
  bool owner_names = false;        // [sync] owner = "name": the list names every id it mentions
  std::vector<std::string> roots;  // root names, in the Secondary's order
};

// A user or group id an entry mentions (its owner, its group, a named ACL entry) with its name
// on the Primary, sent when the Secondary asks for names ([sync] owner = "name").
struct IdName {
  bool group = false;
  uint32_t id = 0;
  std::string name;
  bool operator==(const IdName&) const = default;
};

// One entry of the Primary's list: what the Secondary must end up with.
struct WireEntry {
  std::string path;
  FileType type = FileType::kRegular;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string link_target;  // symlink target
  std::string hardlink_to;  // regular file: an earlier path of the same root it is linked to
  bool hashed = false;
  uint64_t digest = 0;
  XattrList xattrs;           // the managed extended attributes and ACLs (none for symlinks)
  std::vector<IdName> names;  // owner names only (ListRequest::owner_names); else empty
};

struct ListEntries {
  uint32_t root = 0;
  std::vector<WireEntry> entries;
};

// A root's own metadata: a root is no entry of its list (paths are relative to it).
struct RootMeta {
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_ns = 0;
};

// After the last list entries: each requested root's own metadata, in the request's order.
// The Secondary gives its roots the same once the sync's staging folders are gone.
struct ListEnd {
  std::vector<RootMeta> roots;
};

// kWhole: send every block. kBlocks: send the blocks whose hash differs from have_blocks.
// kDelta: content shifted; send a rolling delta per range against `signature` (engine/delta.h),
// or, where a range's delta would pass the work cap, that range's blocks.
enum class RequestKind : uint8_t { kWhole = 0, kBlocks = 1, kDelta = 2 };

struct FileRequest {
  uint32_t id = 0;
  uint32_t root = 0;
  std::string path;
  RequestKind kind = RequestKind::kWhole;
  std::vector<uint64_t> have_blocks;  // kBlocks: the Secondary's block hashes
  std::string signature;              // kDelta: rolling signature of the Secondary's file
};

// A run of consecutive blocks of one file.
struct FileData {
  uint32_t id = 0;
  uint64_t first_block = 0;
  std::vector<uint64_t> hashes;     // one per block
  std::span<const std::byte> data;  // view into the frame payload
};

// A run of blocks of one file that are a hole on the Primary (read as zeros, never sent): the
// blocks [offset, offset + length), offset block-aligned; length is whole blocks but for a
// hole that ends the file, whose last block may be short. Their hashes are those of zero
// blocks of their lengths: the file's digest covers them as any block. The Secondary leaves
// them unwritten in a staged file.
struct FileHole {
  uint32_t id = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// The delta that rebuilds the range [offset, offset + length) of a file (kDelta requests). The
// range's blocks are verified through the file's digest in FileDone.
struct FileDelta {
  uint32_t id = 0;
  uint64_t offset = 0;  // block-aligned
  uint64_t length = 0;
  std::span<const std::byte> delta;  // view into the frame payload
};

struct FileDone {
  uint32_t id = 0;
  bool vanished = false;  // the file went away on the Primary after its scan
  uint64_t size = 0;
  uint64_t digest = 0;
  int64_t mtime_ns = 0;
};

struct Done {
  uint64_t files_sent = 0;
  uint64_t bytes_read = 0;
};

// Limits every decoder enforces.
constexpr size_t kMaxRoots = 1024;
constexpr size_t kMaxEntriesPerMessage = 1 << 20;
constexpr size_t kMaxBlocksPerRequest = size_t{1} << 27;  // 1 TiB file
constexpr size_t kMaxMessageString = 4096;
constexpr size_t kMaxNamesPerEntry = 130;  // owner, group and 128 named ACL entries
constexpr size_t kMaxUserName = 255;
constexpr size_t kMaxHealthDetail = 512;
constexpr size_t kMaxSignature = 4 << 20;  // = engine/delta.h's kMaxSignatureBytes
constexpr uint64_t kMaxDeltaRange = 64 << 20;
constexpr size_t kMaxDelta = 4 << 20;

// Whether n elements, each taking at least min_bytes_each bytes on the wire, fit in the
// `remaining` bytes of a payload. Pure; CountFits(n, 0, r) is always true.
bool CountFits(uint64_t n, size_t min_bytes_each, size_t remaining);

// Reads a count of elements that follow (at most `max`, else kProtocol naming `what`) and
// refuses one the bytes left cannot hold (CountFits) before anything is sized from it, so a
// short payload cannot make a decoder reserve millions of elements.
Result<uint64_t> GetCount(Decoder& d, uint64_t max, size_t min_bytes_each, const char* what);

void Encode(const Hello& m, Encoder& e);
void Encode(const ErrorMsg& m, Encoder& e);
void Encode(const ListRequest& m, Encoder& e);
void Encode(const ListEntries& m, Encoder& e);
void Encode(const FileRequest& m, Encoder& e);  // appended to a kFileRequests batch
void Encode(const FileData& m, Encoder& e);
void Encode(const FileDelta& m, Encoder& e);
void Encode(const FileDone& m, Encoder& e);
void Encode(const FileHole& m, Encoder& e);
void Encode(const ListEnd& m, Encoder& e);
void Encode(const Done& m, Encoder& e);

Result<Hello> DecodeHello(std::span<const std::byte> p);
Result<ErrorMsg> DecodeError(std::span<const std::byte> p);
Result<ListRequest> DecodeListRequest(std::span<const std::byte> p);
Result<ListEntries> DecodeListEntries(std::span<const std::byte> p);
Result<std::vector<FileRequest>> DecodeFileRequests(std::span<const std::byte> p);
Result<FileData> DecodeFileData(std::span<const std::byte> p);
Result<FileDelta> DecodeFileDelta(std::span<const std::byte> p);
Result<FileDone> DecodeFileDone(std::span<const std::byte> p);
Result<FileHole> DecodeFileHole(std::span<const std::byte> p);
Result<ListEnd> DecodeListEnd(std::span<const std::byte> p);
Result<Done> DecodeDone(std::span<const std::byte> p);

// "hello", "file data", ... for error messages.
const char* MsgName(uint8_t type);

}  // namespace hasync::engine
