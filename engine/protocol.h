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
#include "engine/generation.h"

namespace hasync::engine {

// Bumped on any incompatible change to this file or the frame format.
// 2: rolling deltas, 8 KiB blocks; 3: database; 4: generation lineage and role in hello;
// 5: verify, pinned and repairing database requests.
constexpr uint32_t kProtocolVersion = 5;

enum class MsgType : uint8_t {
  kHello = 1,
  kError = 2,
  kListRequest = 3,
  kListEntries = 4,
  kListEnd = 5,
  kFileRequests = 6,
  kRequestsEnd = 7,
  kFileData = 8,
  kFileDone = 9,
  kDone = 10,
  kCommitted = 11,
  kFileDelta = 12,
  kBye = 13,  // S→P right after hello: a connection test, nothing more (`hasync trust test`)
  // The database part (engine/db_protocol.h), between hello and the list request.
  kDbRequest = 14,
  kDbBegin = 15,
  kDbSql = 16,
  kDbCopyBegin = 17,
  kDbCopyData = 18,
  kDbCopyEnd = 19,
  kDbChanges = 20,
  kDbSequences = 21,
  kDbEnd = 22,
  // `hasync verify` (engine/verify_protocol.h), instead of a sync after hello.
  kVerifyRequest = 23,
  kVerifyRoot = 24,
  kVerifyTables = 25,
  kVerifyDirs = 26,
  kVerifyChildren = 27,
  kVerifyBlocksRequest = 28,
  kVerifyBlocks = 29,
};

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
};

struct ErrorMsg {
  uint32_t code = 0;
  std::string message;
};

struct ListRequest {
  bool rehash_all = false;
  std::vector<std::string> roots;  // root names, in the Secondary's order
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
};

struct ListEntries {
  uint32_t root = 0;
  std::vector<WireEntry> entries;
};

// kWhole: send every block. kBlocks: send the blocks whose hash differs from have_blocks.
// kDelta: content shifted; send a librsync delta per range against `signature` (engine/delta.h),
// or, where a range's delta would pass the work cap, that range's blocks.
enum class RequestKind : uint8_t { kWhole = 0, kBlocks = 1, kDelta = 2 };

struct FileRequest {
  uint32_t id = 0;
  uint32_t root = 0;
  std::string path;
  RequestKind kind = RequestKind::kWhole;
  std::vector<uint64_t> have_blocks;  // kBlocks: the Secondary's block hashes
  std::string signature;              // kDelta: librsync signature of the Secondary's file
};

// A run of consecutive blocks of one file.
struct FileData {
  uint32_t id = 0;
  uint64_t first_block = 0;
  std::vector<uint64_t> hashes;     // one per block
  std::span<const std::byte> data;  // view into the frame payload
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
constexpr size_t kMaxSignature = 4 << 20;  // = engine/delta.h's kMaxSignatureBytes
constexpr uint64_t kMaxDeltaRange = 64 << 20;
constexpr size_t kMaxDelta = 4 << 20;

void Encode(const Hello& m, Encoder& e);
void Encode(const ErrorMsg& m, Encoder& e);
void Encode(const ListRequest& m, Encoder& e);
void Encode(const ListEntries& m, Encoder& e);
void Encode(const FileRequest& m, Encoder& e);  // appended to a kFileRequests batch
void Encode(const FileData& m, Encoder& e);
void Encode(const FileDelta& m, Encoder& e);
void Encode(const FileDone& m, Encoder& e);
void Encode(const Done& m, Encoder& e);

Result<Hello> DecodeHello(std::span<const std::byte> p);
Result<ErrorMsg> DecodeError(std::span<const std::byte> p);
Result<ListRequest> DecodeListRequest(std::span<const std::byte> p);
Result<ListEntries> DecodeListEntries(std::span<const std::byte> p);
Result<std::vector<FileRequest>> DecodeFileRequests(std::span<const std::byte> p);
Result<FileData> DecodeFileData(std::span<const std::byte> p);
Result<FileDelta> DecodeFileDelta(std::span<const std::byte> p);
Result<FileDone> DecodeFileDone(std::span<const std::byte> p);
Result<Done> DecodeDone(std::span<const std::byte> p);

// "hello", "file data", ... for error messages.
const char* MsgName(uint8_t type);

}  // namespace hasync::engine
