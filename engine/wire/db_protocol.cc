// The database messages' codecs and the change-record stream: strict decoders that check every
// count and length against what is left, so a hostile Primary's bytes become one protocol error.
#include "engine/wire/db_protocol.h"

#include <cstring>
#include <optional>

#include "engine/wire/protocol.h"

namespace hasync::engine {
namespace {

using snapshot::PgMessage;
using snapshot::PgTuple;
using snapshot::PgValue;

Status Bad(const std::string& what) { return Status(Code::kProtocol, what); }

void PutTuple(const PgTuple& t, Encoder& e) {
  e.PutVarint(t.size());
  for (const PgValue& v : t) {
    e.PutU8(v.kind);
    if (v.kind == PgValue::kText) e.PutString(v.text);
  }
}

Result<PgTuple> GetTuple(Decoder& d) {
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxColumns, 1, "column count"));
  PgTuple t(n);
  for (PgValue& v : t) {
    HASYNC_ASSIGN_OR_RETURN(uint8_t kind, d.GetU8());
    if (kind != PgValue::kNull && kind != PgValue::kUnchanged && kind != PgValue::kText) {
      return Bad("database changes: unknown value kind");
    }
    v.kind = static_cast<PgValue::Kind>(kind);
    if (v.kind == PgValue::kText) {
      HASYNC_ASSIGN_OR_RETURN(v.text, d.GetString(kMaxChangeRecord));
    }
  }
  return t;
}

Result<std::string> GetName(Decoder& d) {
  HASYNC_ASSIGN_OR_RETURN(std::string s, d.GetString(kMaxName));
  if (s.empty() || s.find('\0') != std::string::npos) return Bad("malformed database object name");
  return s;
}

// A schema object's name: a function's carries its argument types, so it may pass kMaxName.
constexpr size_t kMaxObjectName = 1 << 14;

Result<std::string> GetObjectName(Decoder& d, bool may_be_empty) {
  HASYNC_ASSIGN_OR_RETURN(std::string s, d.GetString(kMaxObjectName));
  if ((s.empty() && !may_be_empty) || s.find('\0') != std::string::npos) {
    return Bad("malformed schema object name");
  }
  return s;
}

void PutLabels(const std::vector<std::string>& labels, Encoder& e) {
  e.PutVarint(labels.size());
  for (const auto& l : labels) e.PutString(l);
}

Result<std::vector<std::string>> GetLabels(Decoder& d) {
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxEnumLabels, 1, "enum label count"));
  std::vector<std::string> out(n);
  for (auto& l : out) {
    HASYNC_ASSIGN_OR_RETURN(l, d.GetString(kMaxName));
  }
  return out;
}

Result<snapshot::ObjectKind> GetKind(Decoder& d) {
  HASYNC_ASSIGN_OR_RETURN(uint8_t k, d.GetU8());
  if (k > snapshot::kMaxObjectKind) return Bad("unknown schema object kind");
  return static_cast<snapshot::ObjectKind>(k);
}

void PutObject(const snapshot::SchemaObject& o, Encoder& e) {
  e.PutU8(static_cast<uint8_t>(o.kind));
  e.PutString(o.schema);
  e.PutString(o.name);
  e.PutString(o.digest);
  e.PutU8(o.flags);
  e.PutString(o.owner);
  PutLabels(o.labels, e);
}

Result<snapshot::SchemaObject> GetObject(Decoder& d) {
  snapshot::SchemaObject o;
  HASYNC_ASSIGN_OR_RETURN(o.kind, GetKind(d));
  HASYNC_ASSIGN_OR_RETURN(o.schema, GetObjectName(d, false));
  HASYNC_ASSIGN_OR_RETURN(o.name, GetObjectName(d, o.kind == snapshot::ObjectKind::kSchema));
  HASYNC_ASSIGN_OR_RETURN(o.digest, d.GetString(64));
  HASYNC_ASSIGN_OR_RETURN(o.flags, d.GetU8());
  if (o.flags > snapshot::kMaxObjectFlags) return Bad("unknown schema object flags");
  HASYNC_ASSIGN_OR_RETURN(o.owner, d.GetString(2 * kMaxName + 1));
  HASYNC_ASSIGN_OR_RETURN(o.labels, GetLabels(d));
  return o;
}

void PutChange(const SchemaChange& c, Encoder& e) {
  e.PutU8(static_cast<uint8_t>(c.kind));
  e.PutU8(static_cast<uint8_t>(c.action));
  e.PutString(c.schema);
  e.PutString(c.name);
  e.PutString(c.digest);
  PutLabels(c.labels, e);
}

Result<SchemaChange> GetChange(Decoder& d) {
  SchemaChange c;
  HASYNC_ASSIGN_OR_RETURN(c.kind, GetKind(d));
  HASYNC_ASSIGN_OR_RETURN(uint8_t a, d.GetU8());
  if (a > static_cast<uint8_t>(SchemaAction::kRecreated)) return Bad("unknown schema change");
  c.action = static_cast<SchemaAction>(a);
  HASYNC_ASSIGN_OR_RETURN(c.schema, GetObjectName(d, false));
  HASYNC_ASSIGN_OR_RETURN(c.name, GetObjectName(d, c.kind == snapshot::ObjectKind::kSchema));
  HASYNC_ASSIGN_OR_RETURN(c.digest, d.GetString(64));
  HASYNC_ASSIGN_OR_RETURN(c.labels, GetLabels(d));
  return c;
}

Result<PgMessage> DecodeChangeBody(std::span<const std::byte> body) {
  Decoder d(body);
  PgMessage m;
  HASYNC_ASSIGN_OR_RETURN(uint8_t type, d.GetU8());
  switch (type) {
    case PgMessage::kRelation: {
      m.type = PgMessage::kRelation;
      HASYNC_ASSIGN_OR_RETURN(uint64_t id, d.GetVarint(UINT32_MAX, "relation id"));
      m.relation.id = static_cast<uint32_t>(id);
      HASYNC_ASSIGN_OR_RETURN(m.relation.schema, GetName(d));
      HASYNC_ASSIGN_OR_RETURN(m.relation.name, GetName(d));
      HASYNC_ASSIGN_OR_RETURN(uint8_t ident, d.GetU8());
      if (ident != 'd' && ident != 'n' && ident != 'f' && ident != 'i') {
        return Bad("database changes: unknown replica identity");
      }
      m.relation.replident = static_cast<char>(ident);
      HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxColumns, 3, "column count"));
      m.relation.columns.resize(n);
      for (auto& c : m.relation.columns) {
        HASYNC_ASSIGN_OR_RETURN(c.name, GetName(d));
        HASYNC_ASSIGN_OR_RETURN(uint8_t key, d.GetU8());
        if (key > 1) return Bad("database changes: malformed column flags");
        c.key = key == 1;
      }
      break;
    }
    case PgMessage::kInsert:
    case PgMessage::kUpdate:
    case PgMessage::kDelete: {
      m.type = static_cast<PgMessage::Type>(type);
      HASYNC_ASSIGN_OR_RETURN(uint64_t id, d.GetVarint(UINT32_MAX, "relation id"));
      m.rel_id = static_cast<uint32_t>(id);
      HASYNC_ASSIGN_OR_RETURN(uint8_t old_kind, d.GetU8());
      if (old_kind != 0 && old_kind != 'K' && old_kind != 'O') {
        return Bad("database changes: malformed old-row kind");
      }
      if ((type == PgMessage::kDelete) != (old_kind != 0) && type != PgMessage::kUpdate) {
        return Bad("database changes: a delete needs its key, an insert has none");
      }
      m.old_kind = static_cast<char>(old_kind);
      if (old_kind != 0) {
        HASYNC_ASSIGN_OR_RETURN(m.old_tuple, GetTuple(d));
      }
      if (type != PgMessage::kDelete) {
        HASYNC_ASSIGN_OR_RETURN(m.new_tuple, GetTuple(d));
      }
      break;
    }
    case PgMessage::kTruncate: {
      m.type = PgMessage::kTruncate;
      HASYNC_ASSIGN_OR_RETURN(m.truncate_options, d.GetU8());
      if (m.truncate_options > 3) return Bad("database changes: unknown truncate options");
      HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxTables, 1, "table count"));
      if (n == 0) return Bad("database changes: a truncate of no table");
      for (uint64_t i = 0; i < n; ++i) {
        HASYNC_ASSIGN_OR_RETURN(uint64_t id, d.GetVarint(UINT32_MAX, "relation id"));
        m.truncate_rels.push_back(static_cast<uint32_t>(id));
      }
      break;
    }
    case PgMessage::kCommit: {
      m.type = PgMessage::kCommit;
      HASYNC_ASSIGN_OR_RETURN(m.end_lsn, d.GetVarint());
      break;
    }
    default:
      return Bad("database changes: unknown record type " + std::to_string(type));
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

constexpr size_t kMaxRepairRanges = 1 << 16;

void EncodeRange(const DbRange& r, Encoder& e) {
  e.PutString(r.schema);
  e.PutString(r.name);
  e.PutString(r.key);
  e.PutString(r.from);
  e.PutString(r.to);
}

Result<DbRange> DecodeRange(Decoder& d) {
  DbRange r;
  HASYNC_ASSIGN_OR_RETURN(r.schema, d.GetString(kMaxName));
  HASYNC_ASSIGN_OR_RETURN(r.name, d.GetString(kMaxName));
  HASYNC_ASSIGN_OR_RETURN(r.key, d.GetString(kMaxName));
  HASYNC_ASSIGN_OR_RETURN(r.from, d.GetString(4096));
  HASYNC_ASSIGN_OR_RETURN(r.to, d.GetString(4096));
  return r;
}

}  // namespace

void Encode(const DbRequest& m, Encoder& e) {
  e.PutU8(static_cast<uint8_t>((m.force_full ? 1 : 0) | (m.pinned ? 2 : 0) |
                               (m.counts_only ? 4 : 0) | (m.sample ? 8 : 0) |
                               (m.has_schema ? 16 : 0) | (m.full_reason.empty() ? 0 : 32)));
  e.PutVarint(m.start_lsn);
  e.PutString(m.source_id);
  e.PutVarint(m.repair.size());
  for (const auto& r : m.repair) EncodeRange(r, e);
  if (!m.full_reason.empty()) e.PutString(m.full_reason);
  if (!m.has_schema) return;
  e.PutVarint(m.schema.size());
  for (const auto& o : m.schema) PutObject(o, e);
  e.PutVarint(m.primary_tables.size());
  for (const auto& t : m.primary_tables) {
    e.PutString(t.schema);
    e.PutString(t.name);
    e.PutString(t.token);
  }
}

Result<DbRequest> DecodeDbRequest(std::span<const std::byte> p) {
  Decoder d(p);
  DbRequest m;
  HASYNC_ASSIGN_OR_RETURN(uint8_t f, d.GetU8());
  if (f > 63) return Bad("database request with unknown flags");
  m.force_full = f & 1;
  m.pinned = f & 2;
  m.counts_only = f & 4;
  m.sample = f & 8;
  m.has_schema = f & 16;
  HASYNC_ASSIGN_OR_RETURN(m.start_lsn, d.GetVarint());
  HASYNC_ASSIGN_OR_RETURN(m.source_id, d.GetString(kMaxName));
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxRepairRanges, 5, "repair range count"));
  m.repair.resize(n);
  for (auto& r : m.repair) {
    HASYNC_ASSIGN_OR_RETURN(r, DecodeRange(d));
  }
  if (f & 32) {
    HASYNC_ASSIGN_OR_RETURN(m.full_reason, d.GetString(kMaxMessageString));
    if (m.full_reason.empty() || !m.force_full) return Bad("malformed database request reason");
  }
  if (m.has_schema) {
    HASYNC_ASSIGN_OR_RETURN(uint64_t k, GetCount(d, kMaxSchemaObjects, 6, "schema object count"));
    m.schema.resize(k);
    for (auto& o : m.schema) {
      HASYNC_ASSIGN_OR_RETURN(o, GetObject(d));
    }
    HASYNC_ASSIGN_OR_RETURN(uint64_t t, GetCount(d, kMaxTables, 3, "table count"));
    m.primary_tables.resize(t);
    for (auto& x : m.primary_tables) {
      HASYNC_ASSIGN_OR_RETURN(x.schema, GetName(d));
      HASYNC_ASSIGN_OR_RETURN(x.name, GetName(d));
      HASYNC_ASSIGN_OR_RETURN(x.token, d.GetString(kMaxName));
    }
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const DbBegin& m, Encoder& e) {
  e.PutU8(static_cast<uint8_t>((m.full ? 1 : 0) | (m.schema.empty() ? 0 : 2)));
  e.PutString(m.reason);
  e.PutString(m.source_id);
  e.PutVarint(m.tables.size());
  for (const auto& t : m.tables) {
    e.PutString(t.schema);
    e.PutString(t.name);
    e.PutString(t.description);
    e.PutString(t.token);
  }
  if (m.schema.empty()) return;
  e.PutVarint(m.schema.size());
  for (const auto& c : m.schema) PutChange(c, e);
}

Result<DbBegin> DecodeDbBegin(std::span<const std::byte> p) {
  Decoder d(p);
  DbBegin m;
  HASYNC_ASSIGN_OR_RETURN(uint8_t f, d.GetU8());
  if (f > 2) return Bad("database begin with unknown flags");
  m.full = f == 1;
  HASYNC_ASSIGN_OR_RETURN(m.reason, d.GetString(kMaxMessageString));
  HASYNC_ASSIGN_OR_RETURN(m.source_id, d.GetString(kMaxName));
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxTables, 5, "table count"));
  m.tables.resize(n);
  for (auto& t : m.tables) {
    HASYNC_ASSIGN_OR_RETURN(t.schema, GetName(d));
    HASYNC_ASSIGN_OR_RETURN(t.name, GetName(d));
    HASYNC_ASSIGN_OR_RETURN(t.description, d.GetString(1 << 20));
    HASYNC_ASSIGN_OR_RETURN(t.token, d.GetString(kMaxName));
  }
  if (f & 2) {
    HASYNC_ASSIGN_OR_RETURN(uint64_t k, GetCount(d, kMaxSchemaObjects, 5, "schema change count"));
    if (k == 0) return Bad("database begin with an empty schema change list");
    m.schema.resize(k);
    for (auto& c : m.schema) {
      HASYNC_ASSIGN_OR_RETURN(c, GetChange(d));
    }
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const DbSql& m, Encoder& e) {
  e.PutU8(static_cast<uint8_t>(m.section));
  e.PutU8(m.last ? 1 : 0);
  e.PutBytes(m.text);
}

Result<DbSql> DecodeDbSql(std::span<const std::byte> p) {
  Decoder d(p);
  DbSql m;
  HASYNC_ASSIGN_OR_RETURN(uint8_t s, d.GetU8());
  HASYNC_ASSIGN_OR_RETURN(uint8_t last, d.GetU8());
  if (s > 1 || last > 1) return Bad("malformed database schema message");
  m.section = static_cast<DbSection>(s);
  m.last = last == 1;
  HASYNC_ASSIGN_OR_RETURN(m.text, d.GetSpan(p.size()));
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const DbCopyBegin& m, Encoder& e) {
  e.PutString(m.schema);
  e.PutString(m.name);
  e.PutU8(m.truncate ? 1 : 0);
  e.PutVarint(m.columns.size());
  for (const auto& c : m.columns) e.PutString(c);
  EncodeRange(m.range, e);
}

Result<DbCopyBegin> DecodeDbCopyBegin(std::span<const std::byte> p) {
  Decoder d(p);
  DbCopyBegin m;
  HASYNC_ASSIGN_OR_RETURN(m.schema, GetName(d));
  HASYNC_ASSIGN_OR_RETURN(m.name, GetName(d));
  HASYNC_ASSIGN_OR_RETURN(uint8_t t, d.GetU8());
  if (t > 1) return Bad("malformed table copy begin");
  m.truncate = t == 1;
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxColumns, 2, "column count"));
  m.columns.resize(n);
  for (auto& c : m.columns) {
    HASYNC_ASSIGN_OR_RETURN(c, GetName(d));
  }
  HASYNC_ASSIGN_OR_RETURN(m.range, DecodeRange(d));
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const DbCopyEnd& m, Encoder& e) { e.PutVarint(m.rows); }

Result<DbCopyEnd> DecodeDbCopyEnd(std::span<const std::byte> p) {
  Decoder d(p);
  DbCopyEnd m;
  HASYNC_ASSIGN_OR_RETURN(m.rows, d.GetVarint());
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void Encode(const std::vector<DbSequence>& m, Encoder& e) {
  e.PutVarint(m.size());
  for (const auto& s : m) {
    e.PutString(s.schema);
    e.PutString(s.name);
    e.PutU8(s.called ? 1 : 0);
    e.PutSigned(s.value);
  }
}

Result<std::vector<DbSequence>> DecodeDbSequences(std::span<const std::byte> p) {
  Decoder d(p);
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxTables, 6, "sequence count"));
  std::vector<DbSequence> out(n);
  for (auto& s : out) {
    HASYNC_ASSIGN_OR_RETURN(s.schema, GetName(d));
    HASYNC_ASSIGN_OR_RETURN(s.name, GetName(d));
    HASYNC_ASSIGN_OR_RETURN(uint8_t c, d.GetU8());
    if (c > 1) return Bad("malformed sequence values");
    s.called = c == 1;
    HASYNC_ASSIGN_OR_RETURN(s.value, d.GetSigned());
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return out;
}

void Encode(const DbEnd& m, Encoder& e) {
  e.PutVarint(m.end_lsn);
  e.PutVarint(m.transactions);
  e.PutVarint(m.changes);
  e.PutVarint(m.slot_retained_bytes);
  e.PutVarint(m.refresh.size());
  for (const auto& r : m.refresh) {
    e.PutString(r.schema);
    e.PutString(r.name);
    e.PutU8(r.populated ? 1 : 0);
  }
}

Result<DbEnd> DecodeDbEnd(std::span<const std::byte> p) {
  Decoder d(p);
  DbEnd m;
  HASYNC_ASSIGN_OR_RETURN(m.end_lsn, d.GetVarint());
  HASYNC_ASSIGN_OR_RETURN(m.transactions, d.GetVarint());
  HASYNC_ASSIGN_OR_RETURN(m.changes, d.GetVarint());
  HASYNC_ASSIGN_OR_RETURN(m.slot_retained_bytes, d.GetVarint());
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetCount(d, kMaxTables, 5, "materialized view count"));
  m.refresh.resize(n);
  for (auto& r : m.refresh) {
    HASYNC_ASSIGN_OR_RETURN(r.schema, GetName(d));
    HASYNC_ASSIGN_OR_RETURN(r.name, GetName(d));
    HASYNC_ASSIGN_OR_RETURN(uint8_t populated, d.GetU8());
    if (populated > 1) return Bad("malformed database end");
    r.populated = populated == 1;
  }
  HASYNC_RETURN_IF_ERROR(d.ExpectEnd());
  return m;
}

void EncodeChange(const PgMessage& m, Encoder& e) {
  Encoder body;
  body.PutU8(m.type);
  switch (m.type) {
    case PgMessage::kRelation:
      body.PutVarint(m.relation.id);
      body.PutString(m.relation.schema);
      body.PutString(m.relation.name);
      body.PutU8(static_cast<uint8_t>(m.relation.replident));
      body.PutVarint(m.relation.columns.size());
      for (const auto& c : m.relation.columns) {
        body.PutString(c.name);
        body.PutU8(c.key ? 1 : 0);
      }
      break;
    case PgMessage::kInsert:
    case PgMessage::kUpdate:
    case PgMessage::kDelete:
      body.PutVarint(m.rel_id);
      body.PutU8(static_cast<uint8_t>(m.old_kind));
      if (m.old_kind != 0) PutTuple(m.old_tuple, body);
      if (m.type != PgMessage::kDelete) PutTuple(m.new_tuple, body);
      break;
    case PgMessage::kTruncate:
      body.PutU8(m.truncate_options);
      body.PutVarint(m.truncate_rels.size());
      for (uint32_t id : m.truncate_rels) body.PutVarint(id);
      break;
    case PgMessage::kCommit:
      body.PutVarint(m.end_lsn);
      break;
    default:
      break;  // never sent
  }
  e.PutBytes(body.view());
}

void ChangeReader::Append(std::span<const std::byte> payload) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (4u << 20)) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), payload.begin(), payload.end());
}

Result<std::optional<PgMessage>> ChangeReader::Next() {
  std::span<const std::byte> rest(buf_.data() + pos_, buf_.size() - pos_);
  if (rest.empty()) return std::optional<PgMessage>();
  // The varint length prefix: at most 10 bytes.
  uint64_t len = 0;
  size_t used = 0;
  for (int shift = 0;; shift += 7) {
    if (used == rest.size()) return std::optional<PgMessage>();  // need more
    if (shift > 63) return Bad("database changes: malformed record length");
    auto b = static_cast<uint8_t>(rest[used++]);
    len |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
  }
  if (len > kMaxChangeRecord) return Bad("database changes: record too large");
  if (rest.size() - used < len) return std::optional<PgMessage>();
  HASYNC_ASSIGN_OR_RETURN(PgMessage m, DecodeChangeBody(rest.subspan(used, len)));
  pos_ += used + len;
  return std::optional<PgMessage>(std::move(m));
}

}  // namespace hasync::engine
