// pgoutput and the replication protocol's CopyData messages, decoded with one bounds-checked
// reader: every length is checked against what is left before it is used, and a message with
// bytes left over is refused, so a malformed stream fails loudly instead of being guessed at.
#include "snapshot/pgoutput.h"

#include <chrono>
#include <cstring>

namespace hasync::snapshot {
namespace {

constexpr size_t kMaxColumns = 1664;    // PostgreSQL's MaxTupleAttributeNumber
constexpr size_t kMaxValue = 1u << 30;  // a varlena value is at most 1 GiB

// Network byte order reader over one message.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> d) : d_(d) {}

  Result<uint8_t> U8() {
    if (pos_ + 1 > d_.size()) return Short();
    return static_cast<uint8_t>(d_[pos_++]);
  }
  Result<uint16_t> U16() { return Int<uint16_t>(); }
  Result<uint32_t> U32() { return Int<uint32_t>(); }
  Result<uint64_t> U64() { return Int<uint64_t>(); }
  // A NUL-terminated string.
  Result<std::string> CString() {
    const auto* begin = reinterpret_cast<const char*>(d_.data()) + pos_;
    const void* nul = std::memchr(begin, 0, d_.size() - pos_);
    if (nul == nullptr) return Status(Code::kProtocol, "pgoutput: unterminated string");
    size_t n = static_cast<const char*>(nul) - begin;
    pos_ += n + 1;
    return std::string(begin, n);
  }
  Result<std::string> Bytes(size_t n) {
    if (n > d_.size() - pos_) return Short();
    std::string s(reinterpret_cast<const char*>(d_.data()) + pos_, n);
    pos_ += n;
    return s;
  }
  std::span<const std::byte> Rest() { return d_.subspan(pos_); }
  Status End() const {
    if (pos_ != d_.size()) return Status(Code::kProtocol, "pgoutput: trailing bytes in a message");
    return Status::Ok();
  }

 private:
  template <typename T>
  Result<T> Int() {
    if (sizeof(T) > d_.size() - pos_) return Short();
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      v = static_cast<T>((v << 8) | static_cast<uint8_t>(d_[pos_ + i]));
    pos_ += sizeof(T);
    return v;
  }
  static Status Short() { return Status(Code::kProtocol, "pgoutput: truncated message"); }

  std::span<const std::byte> d_;
  size_t pos_ = 0;
};

Result<PgTuple> ReadTuple(Reader& r) {
  HASYNC_ASSIGN_OR_RETURN(uint16_t n, r.U16());
  if (n > kMaxColumns) return Status(Code::kProtocol, "pgoutput: too many columns");
  PgTuple t(n);
  for (auto& v : t) {
    HASYNC_ASSIGN_OR_RETURN(uint8_t kind, r.U8());
    switch (kind) {
      case 'n':
        v.kind = PgValue::kNull;
        break;
      case 'u':
        v.kind = PgValue::kUnchanged;
        break;
      case 't': {
        v.kind = PgValue::kText;
        HASYNC_ASSIGN_OR_RETURN(uint32_t len, r.U32());
        if (len > kMaxValue) return Status(Code::kProtocol, "pgoutput: value too long");
        HASYNC_ASSIGN_OR_RETURN(v.text, r.Bytes(len));
        break;
      }
      default:
        return Status(Code::kProtocol, "pgoutput: unknown column kind " + std::to_string(kind) +
                                           " (binary mode is not used)");
    }
  }
  return t;
}

}  // namespace

Result<PgMessage> DecodePgOutput(std::span<const std::byte> data) {
  Reader r(data);
  PgMessage m;
  HASYNC_ASSIGN_OR_RETURN(uint8_t type, r.U8());
  switch (type) {
    case 'B': {
      m.type = PgMessage::kBegin;
      HASYNC_ASSIGN_OR_RETURN(m.final_lsn, r.U64());
      HASYNC_RETURN_IF_ERROR(r.U64().status());  // commit time
      HASYNC_ASSIGN_OR_RETURN(m.xid, r.U32());
      break;
    }
    case 'C': {
      m.type = PgMessage::kCommit;
      HASYNC_RETURN_IF_ERROR(r.U8().status());  // flags
      HASYNC_ASSIGN_OR_RETURN(m.commit_lsn, r.U64());
      HASYNC_ASSIGN_OR_RETURN(m.end_lsn, r.U64());
      HASYNC_RETURN_IF_ERROR(r.U64().status());  // commit time
      break;
    }
    case 'O': {
      m.type = PgMessage::kOrigin;
      HASYNC_RETURN_IF_ERROR(r.U64().status());
      HASYNC_RETURN_IF_ERROR(r.CString().status());
      break;
    }
    case 'R': {
      m.type = PgMessage::kRelation;
      HASYNC_ASSIGN_OR_RETURN(m.relation.id, r.U32());
      HASYNC_ASSIGN_OR_RETURN(m.relation.schema, r.CString());
      if (m.relation.schema.empty()) m.relation.schema = "pg_catalog";
      HASYNC_ASSIGN_OR_RETURN(m.relation.name, r.CString());
      HASYNC_ASSIGN_OR_RETURN(uint8_t ident, r.U8());
      m.relation.replident = static_cast<char>(ident);
      HASYNC_ASSIGN_OR_RETURN(uint16_t n, r.U16());
      if (n > kMaxColumns) return Status(Code::kProtocol, "pgoutput: too many columns");
      m.relation.columns.resize(n);
      for (auto& c : m.relation.columns) {
        HASYNC_ASSIGN_OR_RETURN(uint8_t flags, r.U8());
        c.key = (flags & 1) != 0;
        HASYNC_ASSIGN_OR_RETURN(c.name, r.CString());
        HASYNC_ASSIGN_OR_RETURN(c.type_oid, r.U32());
        HASYNC_RETURN_IF_ERROR(r.U32().status());  // typmod
      }
      break;
    }
    case 'Y': {
      m.type = PgMessage::kType;
      HASYNC_RETURN_IF_ERROR(r.U32().status());
      HASYNC_RETURN_IF_ERROR(r.CString().status());
      HASYNC_RETURN_IF_ERROR(r.CString().status());
      break;
    }
    case 'I': {
      m.type = PgMessage::kInsert;
      HASYNC_ASSIGN_OR_RETURN(m.rel_id, r.U32());
      HASYNC_ASSIGN_OR_RETURN(uint8_t n, r.U8());
      if (n != 'N') return Status(Code::kProtocol, "pgoutput: insert without a new row");
      HASYNC_ASSIGN_OR_RETURN(m.new_tuple, ReadTuple(r));
      break;
    }
    case 'U': {
      m.type = PgMessage::kUpdate;
      HASYNC_ASSIGN_OR_RETURN(m.rel_id, r.U32());
      HASYNC_ASSIGN_OR_RETURN(uint8_t k, r.U8());
      if (k == 'K' || k == 'O') {
        m.old_kind = static_cast<char>(k);
        HASYNC_ASSIGN_OR_RETURN(m.old_tuple, ReadTuple(r));
        HASYNC_ASSIGN_OR_RETURN(k, r.U8());
      }
      if (k != 'N') return Status(Code::kProtocol, "pgoutput: update without a new row");
      HASYNC_ASSIGN_OR_RETURN(m.new_tuple, ReadTuple(r));
      break;
    }
    case 'D': {
      m.type = PgMessage::kDelete;
      HASYNC_ASSIGN_OR_RETURN(m.rel_id, r.U32());
      HASYNC_ASSIGN_OR_RETURN(uint8_t k, r.U8());
      if (k != 'K' && k != 'O') return Status(Code::kProtocol, "pgoutput: delete without a key");
      m.old_kind = static_cast<char>(k);
      HASYNC_ASSIGN_OR_RETURN(m.old_tuple, ReadTuple(r));
      break;
    }
    case 'T': {
      m.type = PgMessage::kTruncate;
      HASYNC_ASSIGN_OR_RETURN(uint32_t n, r.U32());
      if (n > (1u << 20)) return Status(Code::kProtocol, "pgoutput: truncate of too many tables");
      HASYNC_ASSIGN_OR_RETURN(m.truncate_options, r.U8());
      for (uint32_t i = 0; i < n; ++i) {
        HASYNC_ASSIGN_OR_RETURN(uint32_t id, r.U32());
        m.truncate_rels.push_back(id);
      }
      break;
    }
    case 'M': {
      m.type = PgMessage::kMessage;
      HASYNC_ASSIGN_OR_RETURN(uint8_t flags, r.U8());
      m.transactional = (flags & 1) != 0;
      HASYNC_RETURN_IF_ERROR(r.U64().status());  // lsn
      HASYNC_ASSIGN_OR_RETURN(m.prefix, r.CString());
      HASYNC_ASSIGN_OR_RETURN(uint32_t len, r.U32());
      if (len > kMaxValue) return Status(Code::kProtocol, "pgoutput: message too long");
      HASYNC_ASSIGN_OR_RETURN(m.content, r.Bytes(len));
      break;
    }
    default:
      return Status(Code::kProtocol, "pgoutput: unknown message type " + std::to_string(type));
  }
  HASYNC_RETURN_IF_ERROR(r.End());
  return m;
}

Result<WalMessage> DecodeWalMessage(std::span<const std::byte> data) {
  Reader r(data);
  WalMessage w;
  HASYNC_ASSIGN_OR_RETURN(uint8_t kind, r.U8());
  if (kind == 'w') {
    w.kind = WalMessage::kXLogData;
    HASYNC_ASSIGN_OR_RETURN(w.wal_start, r.U64());
    HASYNC_ASSIGN_OR_RETURN(w.wal_end, r.U64());
    HASYNC_RETURN_IF_ERROR(r.U64().status());  // send time
    w.payload = r.Rest();
    return w;
  }
  if (kind == 'k') {
    w.kind = WalMessage::kKeepalive;
    HASYNC_ASSIGN_OR_RETURN(w.wal_end, r.U64());
    HASYNC_RETURN_IF_ERROR(r.U64().status());
    HASYNC_ASSIGN_OR_RETURN(uint8_t reply, r.U8());
    w.reply_requested = reply != 0;
    HASYNC_RETURN_IF_ERROR(r.End());
    return w;
  }
  return Status(Code::kProtocol, "replication stream: unknown message " + std::to_string(kind));
}

std::string EncodeStatusUpdate(Lsn written, Lsn flushed, Lsn applied, bool reply_requested) {
  // Microseconds since 2000-01-01, PostgreSQL's epoch.
  constexpr int64_t kPgEpochOffsetUs = 946684800LL * 1000000;
  int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count() -
                kPgEpochOffsetUs;
  std::string out = "r";
  auto put64 = [&out](uint64_t v) {
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put64(written);
  put64(flushed);
  put64(applied);
  put64(static_cast<uint64_t>(now));
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

}  // namespace hasync::snapshot
