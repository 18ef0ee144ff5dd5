// The verify session's messages (engine/FORMAT.md, types 23-29), with strict decoders.
//
//   S→P verify request     roots, database?, rehash?
//   P→S verify root        per root: its Merkle root digest and entry count
//   P→S verify tables      the database's tables: rows and an order-independent hash each
//   S→P verify dirs        directories whose digests differ: their children, please
//   P→S verify children    those children (in batches; the last one says so)
//   S→P verify blocks req  files whose contents differ: their block hashes, please
//   P→S verify blocks      block hashes (in batches; the last one of the file says so)
//   S→P bye                done
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/binary.h"
#include "common/status.h"
#include "verify/merkle.h"
#include "verify/table_check.h"

namespace hasync::engine {

struct VerifyRequest {
  std::vector<std::string> roots;
  bool database = false;
  bool rehash_all = false;
};

struct VerifyRoot {
  uint32_t root = 0;
  uint64_t entries = 0;
  uint64_t digest = 0;
};

// The table checks' value types belong to verify/ (they are what it computes); the message
// carries them as they are.
using verify::TableBucket;
using verify::TableCheck;

struct VerifyTables {
  std::vector<TableCheck> tables;
};

// verify dirs and verify blocks request share this shape.
struct VerifyPaths {
  uint32_t root = 0;
  std::vector<std::string> paths;
};

struct VerifyChildren {
  uint32_t root = 0;
  bool last = false;
  std::vector<verify::TreeChild> children;
};

struct VerifyBlocks {
  uint32_t root = 0;
  std::string path;
  uint64_t first = 0;    // index of hashes[0]
  bool last = false;     // the file's last batch
  bool missing = false;  // the file is not (or no longer) a regular file on the Primary
  std::vector<uint64_t> hashes;
};

void Encode(const VerifyRequest& m, Encoder& e);
Result<VerifyRequest> DecodeVerifyRequest(std::span<const std::byte> p);
void Encode(const VerifyRoot& m, Encoder& e);
Result<VerifyRoot> DecodeVerifyRoot(std::span<const std::byte> p);
void Encode(const VerifyTables& m, Encoder& e);
Result<VerifyTables> DecodeVerifyTables(std::span<const std::byte> p);
void Encode(const VerifyPaths& m, Encoder& e);
Result<VerifyPaths> DecodeVerifyPaths(std::span<const std::byte> p);
void Encode(const VerifyChildren& m, Encoder& e);
Result<VerifyChildren> DecodeVerifyChildren(std::span<const std::byte> p);
void Encode(const VerifyBlocks& m, Encoder& e);
Result<VerifyBlocks> DecodeVerifyBlocks(std::span<const std::byte> p);

}  // namespace hasync::engine
