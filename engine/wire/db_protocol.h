// The database part of a sync (engine/FORMAT.md): the Secondary asks with a database request,
// the Primary answers with database begin, then either a full copy (schema before data, table
// copies, sequences, schema after data) or the changes since the Secondary's position, then
// database end. Strict decoders as in engine/protocol.h.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/binary.h"
#include "common/status.h"
#include "snapshot/pgoutput.h"
#include "snapshot/schema_catalog.h"
#include "verify/table_check.h"

namespace hasync::engine {

// A key range to copy again (a repair): verify/'s value type.
using DbRange = verify::KeyRange;

struct DbTableDesc {
  std::string schema;
  std::string name;
  std::string description;  // snapshot::TableInfo::description
  std::string token;        // the Primary's snapshot::kTableToken ("": not known)
};

struct DbRequest {
  bool force_full = false;  // `hasync sync --full-db`, or full_reason
  std::string full_reason;  // with force_full: why the Secondary asks ("": the operator did)
  uint64_t start_lsn = 0;   // the Secondary's applied position; 0: none
  std::string source_id;    // the database it was applied from ("" none)
  // Pinned: the changes up to a point the Primary pins (a temporary slot's exported snapshot)
  // instead of up to a marker, then that snapshot's table checks (verify tables) after database
  // end, for `hasync verify` (the Secondary rolls back) and verified or repairing syncs (it
  // checks inside its transaction before committing).
  bool pinned = false;
  bool counts_only = false;  // pinned: row counts, no row hashes (the "counts" level)
  bool sample = false;       // pinned: hashes in an eighth of the key ranges (the "sample" level)
  int SampleSeed() const { return sample ? static_cast<int>(start_lsn % 8) : -1; }
  // Key ranges to copy again at the pinned point (`hasync verify --repair`): the Secondary
  // deletes each range and loads the Primary's rows of it.
  std::vector<DbRange> repair;
  // The Secondary's schema (snapshot::ReadSchemaObjects): the Primary compares it with its own
  // and carries what differs (engine/db/schema_plan.h). Empty with has_schema unset only from a
  // caller that has no database to describe (verify's own requests send it too).
  bool has_schema = false;
  std::vector<snapshot::SchemaObject> schema;
  // With has_schema: the Primary's tables and their tokens as of the last commit (description
  // empty), so that a table dropped and re-created alike, or rewritten, since is copied again.
  std::vector<DbTableDesc> primary_tables;
};

// One difference an incremental sync carries: what the Secondary does is in schema_plan.h.
// kRecreated: a table dropped and created again alike (same definition, another OID).
enum class SchemaAction : uint8_t { kAdded = 0, kDropped = 1, kAltered = 2, kRecreated = 3 };
struct SchemaChange {
  snapshot::ObjectKind kind = snapshot::ObjectKind::kTable;
  SchemaAction action = SchemaAction::kAltered;
  std::string schema;
  std::string name;
  std::string digest;  // the Primary's (not for kDropped): what the Secondary ends with
  std::vector<std::string> labels;  // an enum's, the Primary's, in order
  bool operator==(const SchemaChange&) const = default;
};

struct DbBegin {
  bool full = false;
  std::string reason;     // why a full copy ("first sync", "slot missing", ...)
  std::string source_id;  // "<system identifier>/<database>": what the position refers to
  std::vector<DbTableDesc> tables;
  // Incremental: the schema differences this sync carries. Non-empty: a pre-data script follows
  // database begin, the changes' tables are copied whole, and a post-data script follows the
  // copies.
  std::vector<SchemaChange> schema;
};

// A piece of the schema script from pg_dump; `last` ends the section.
enum class DbSection : uint8_t { kPreData = 0, kPostData = 1 };
struct DbSql {
  DbSection section = DbSection::kPreData;
  bool last = false;
  std::span<const std::byte> text;
};

struct DbCopyBegin {
  std::string schema;
  std::string name;
  std::vector<std::string> columns;
  bool truncate = false;  // empty the table first (an unlogged or keyless table's refresh)
  DbRange range;          // key set: delete this key range first (a repair)
};

struct DbCopyEnd {
  uint64_t rows = 0;
};

struct DbSequence {
  std::string schema;
  std::string name;
  bool called = false;
  int64_t value = 0;
};

// A materialized view the Primary refreshed in the sync's window: the Secondary refreshes its
// own before committing (WITH NO DATA when the Primary's is left unpopulated).
struct DbRefresh {
  std::string schema;
  std::string name;
  bool populated = true;
  bool operator==(const DbRefresh&) const = default;
};

struct DbEnd {
  uint64_t end_lsn = 0;  // the position the Secondary is at once this is committed
  uint64_t transactions = 0;
  uint64_t changes = 0;
  uint64_t slot_retained_bytes = 0;  // WAL the Primary's slot keeps
  std::vector<DbRefresh> refresh;    // in the order to refresh them
};

constexpr size_t kMaxTables = 1 << 20;
constexpr size_t kMaxColumns = 1664;
constexpr size_t kMaxName = 256;
constexpr size_t kMaxSchemaObjects = 1 << 20;
constexpr size_t kMaxEnumLabels = 1 << 16;
constexpr size_t kMaxChangeRecord = (1u << 30) + (64u << 20);  // one row: 1 GiB values + slack

void Encode(const DbRequest& m, Encoder& e);
void Encode(const DbBegin& m, Encoder& e);
void Encode(const DbSql& m, Encoder& e);
void Encode(const DbCopyBegin& m, Encoder& e);
void Encode(const DbCopyEnd& m, Encoder& e);
void Encode(const std::vector<DbSequence>& m, Encoder& e);
void Encode(const DbEnd& m, Encoder& e);
Result<DbRequest> DecodeDbRequest(std::span<const std::byte> p);
Result<DbBegin> DecodeDbBegin(std::span<const std::byte> p);
Result<DbSql> DecodeDbSql(std::span<const std::byte> p);
Result<DbCopyBegin> DecodeDbCopyBegin(std::span<const std::byte> p);
Result<DbCopyEnd> DecodeDbCopyEnd(std::span<const std::byte> p);
Result<std::vector<DbSequence>> DecodeDbSequences(std::span<const std::byte> p);
Result<DbEnd> DecodeDbEnd(std::span<const std::byte> p);

// Changes travel as a byte stream cut into database-changes frames at any point: each record is a
// varint length and a body holding one relation, insert, update, delete, truncate or commit
// (snapshot::PgMessage). A row larger than a frame spans several.
void EncodeChange(const snapshot::PgMessage& m, Encoder& e);

// Reassembles records from the frames' payloads.
class ChangeReader {
 public:
  void Append(std::span<const std::byte> payload);
  // The next complete record, or nullopt when more bytes are needed.
  Result<std::optional<snapshot::PgMessage>> Next();
  bool empty() const { return pos_ == buf_.size(); }

 private:
  std::vector<std::byte> buf_;
  size_t pos_ = 0;
};

}  // namespace hasync::engine
