// Decoder for pgoutput, PostgreSQL's logical replication output (protocol version 1, text
// values): the messages a logical slot streams inside the replication protocol's XLogData. Strict:
// a short or malformed message is a kProtocol error, never a read past the end.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "snapshot/pg.h"

namespace hasync::snapshot {

struct PgColumn {
  std::string name;
  bool key = false;  // part of the replica identity (every column under REPLICA IDENTITY FULL)
  uint32_t type_oid = 0;
};

struct PgRelation {
  uint32_t id = 0;  // the Primary's relation OID
  std::string schema;
  std::string name;
  char replident = 'd';  // d default (primary key), n nothing, f full, i index
  std::vector<PgColumn> columns;
};

// One column value: NULL, an unchanged TOASTed value (not sent: keep what is there), or text.
struct PgValue {
  enum Kind : uint8_t { kNull = 'n', kUnchanged = 'u', kText = 't' };
  Kind kind = kNull;
  std::string text;
};
using PgTuple = std::vector<PgValue>;

struct PgMessage {
  enum Type : uint8_t {
    kBegin = 'B',
    kCommit = 'C',
    kRelation = 'R',
    kInsert = 'I',
    kUpdate = 'U',
    kDelete = 'D',
    kTruncate = 'T',
    kMessage = 'M',  // pg_logical_emit_message
    kType = 'Y',
    kOrigin = 'O',
  };
  Type type = kBegin;
  Lsn final_lsn = 0;   // begin: the commit's LSN
  Lsn commit_lsn = 0;  // commit
  Lsn end_lsn = 0;     // commit: the end of the commit record
  uint32_t xid = 0;
  PgRelation relation;  // relation
  uint32_t rel_id = 0;  // insert, update, delete
  char old_kind = 0;    // update, delete: 'K' key columns, 'O' whole old row, 0 none
  PgTuple old_tuple;
  PgTuple new_tuple;
  uint8_t truncate_options = 0;  // bit 0 cascade, bit 1 restart identity
  std::vector<uint32_t> truncate_rels;
  bool transactional = false;  // message
  std::string prefix;
  std::string content;
};

Result<PgMessage> DecodePgOutput(std::span<const std::byte> data);

// The replication protocol's CopyData messages from a walsender.
struct WalMessage {
  enum Kind : uint8_t { kXLogData = 'w', kKeepalive = 'k' };
  Kind kind = kXLogData;
  Lsn wal_start = 0;  // XLogData
  Lsn wal_end = 0;    // both: the server's position
  bool reply_requested = false;
  std::span<const std::byte> payload;  // XLogData: the pgoutput message
};
Result<WalMessage> DecodeWalMessage(std::span<const std::byte> data);

// The standby status update a client sends ('r'): positions and the time now.
std::string EncodeStatusUpdate(Lsn written, Lsn flushed, Lsn applied, bool reply_requested);

}  // namespace hasync::snapshot
