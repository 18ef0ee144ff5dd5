// pgoutput decoding: each message kind as PostgreSQL lays it out, and malformed input refused
// without reading past the end.
#include "snapshot/pgoutput.h"

#include <gtest/gtest.h>

namespace hasync::snapshot {
namespace {

// Builds messages in network byte order.
class Msg {
 public:
  Msg& U8(uint8_t v) {
    b_.push_back(static_cast<std::byte>(v));
    return *this;
  }
  Msg& U16(uint16_t v) { return Int(v, 2); }
  Msg& U32(uint32_t v) { return Int(v, 4); }
  Msg& U64(uint64_t v) { return Int(v, 8); }
  Msg& Str(const std::string& s) {
    for (char c : s) U8(static_cast<uint8_t>(c));
    return U8(0);
  }
  Msg& Text(const std::string& s) {
    U8('t').U32(static_cast<uint32_t>(s.size()));
    for (char c : s) U8(static_cast<uint8_t>(c));
    return *this;
  }
  std::span<const std::byte> span() const { return b_; }
  std::vector<std::byte> bytes() const { return b_; }

 private:
  Msg& Int(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) U8(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  std::vector<std::byte> b_;
};

TEST(PgOutputTest, RelationAndRowChanges) {
  Msg rel;
  rel.U8('R').U32(16384).Str("public").Str("devices").U8('d').U16(2);
  rel.U8(1).Str("id").U32(20).U32(0xffffffff);
  rel.U8(0).Str("attrs").U32(3802).U32(0xffffffff);
  auto r = DecodePgOutput(rel.span());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->type, PgMessage::kRelation);
  EXPECT_EQ(r->relation.id, 16384u);
  EXPECT_EQ(r->relation.name, "devices");
  ASSERT_EQ(r->relation.columns.size(), 2u);
  EXPECT_TRUE(r->relation.columns[0].key);
  EXPECT_FALSE(r->relation.columns[1].key);

  Msg upd;
  upd.U8('U').U32(16384).U8('K').U16(2).Text("7").U8('n');
  upd.U8('N').U16(2).Text("8").U8('u');
  auto u = DecodePgOutput(upd.span());
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->type, PgMessage::kUpdate);
  EXPECT_EQ(u->old_kind, 'K');
  EXPECT_EQ(u->old_tuple[0].text, "7");
  EXPECT_EQ(u->new_tuple[0].text, "8");
  EXPECT_EQ(u->new_tuple[1].kind, PgValue::kUnchanged);

  Msg commit;
  commit.U8('C').U8(0).U64(0x100).U64(0x180).U64(0);
  auto c = DecodePgOutput(commit.span());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->end_lsn, 0x180u);

  Msg msg;
  msg.U8('M').U8(1).U64(5).Str("hasync").U32(3).U8('a').U8('b').U8('c');
  auto m = DecodePgOutput(msg.span());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->prefix, "hasync");
  EXPECT_EQ(m->content, "abc");
  EXPECT_TRUE(m->transactional);
}

TEST(PgOutputTest, MalformedMessagesAreRefused) {
  Msg ins;
  ins.U8('I').U32(1).U8('N').U16(1).Text("hello");
  auto whole = ins.bytes();
  ASSERT_TRUE(DecodePgOutput(whole).ok());
  // Every truncation is an error, never a read past the end.
  for (size_t n = 0; n < whole.size(); ++n) {
    auto r = DecodePgOutput(std::span<const std::byte>(whole.data(), n));
    EXPECT_FALSE(r.ok()) << n;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kProtocol);
    }
  }
  whole.push_back(std::byte{0});
  EXPECT_FALSE(DecodePgOutput(whole).ok()) << "trailing bytes";
  Msg binary;
  binary.U8('I').U32(1).U8('N').U16(1).U8('b').U32(0);
  EXPECT_FALSE(DecodePgOutput(binary.span()).ok()) << "binary values are never asked for";
  Msg huge;
  huge.U8('I').U32(1).U8('N').U16(1).U8('t').U32(0xfffffff0);
  EXPECT_FALSE(DecodePgOutput(huge.span()).ok());
  Msg unknown;
  unknown.U8('Z');
  EXPECT_FALSE(DecodePgOutput(unknown.span()).ok());
  Msg name;
  name.U8('R').U32(1).U8('p');  // unterminated schema name
  EXPECT_FALSE(DecodePgOutput(name.span()).ok());
}

TEST(PgOutputTest, WalMessages) {
  Msg data;
  data.U8('w').U64(10).U64(20).U64(0).U8('B');
  auto w = DecodeWalMessage(data.span());
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->kind, WalMessage::kXLogData);
  EXPECT_EQ(w->payload.size(), 1u);
  Msg keep;
  keep.U8('k').U64(99).U64(0).U8(1);
  auto k = DecodeWalMessage(keep.span());
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->wal_end, 99u);
  EXPECT_TRUE(k->reply_requested);
  std::string status = EncodeStatusUpdate(0, 0, 0, false);
  EXPECT_EQ(status.size(), 34u);
  EXPECT_EQ(status[0], 'r');
}

TEST(PgOutputTest, LsnText) {
  EXPECT_EQ(FormatLsn((uint64_t{0x16} << 32) | 0xB374D848), "16/B374D848");
  EXPECT_EQ(ParseLsn("16/B374D848").value(), (uint64_t{0x16} << 32) | 0xB374D848);
  EXPECT_FALSE(ParseLsn("16/").ok());
  EXPECT_FALSE(ParseLsn("0/1 junk").ok());
}

}  // namespace
}  // namespace hasync::snapshot
