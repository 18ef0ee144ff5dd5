// The database messages: changes survive any cut into frames, and hostile bytes are refused.
#include "engine/wire/db_protocol.h"

#include <gtest/gtest.h>

#include "tests/unit/engine/wire/largest_allocation.h"

namespace hasync::engine {
namespace {

using snapshot::PgMessage;
using snapshot::PgValue;

std::vector<PgMessage> SampleChanges() {
  std::vector<PgMessage> v(4);
  v[0].type = PgMessage::kRelation;
  v[0].relation = {.id = 7,
                   .schema = "public",
                   .name = "devices",
                   .replident = 'd',
                   .columns = {{"id", true, 0}, {"blob", false, 0}}};
  v[1].type = PgMessage::kInsert;
  v[1].rel_id = 7;
  v[1].new_tuple = {{PgValue::kText, "1"}, {PgValue::kText, std::string(3 << 20, 'x')}};
  v[2].type = PgMessage::kUpdate;
  v[2].rel_id = 7;
  v[2].old_kind = 'K';
  v[2].old_tuple = {{PgValue::kText, "1"}, {PgValue::kNull, ""}};
  v[2].new_tuple = {{PgValue::kText, "2"}, {PgValue::kUnchanged, ""}};
  v[3].type = PgMessage::kCommit;
  v[3].end_lsn = 12345;
  return v;
}

TEST(DbProtocolTest, ChangesSurviveAnyCutIntoFrames) {
  Encoder e;
  for (const auto& m : SampleChanges()) EncodeChange(m, e);
  auto bytes = e.view();
  for (size_t cut : {size_t{1}, size_t{7}, size_t{1} << 20, bytes.size()}) {
    ChangeReader reader;
    std::vector<PgMessage> got;
    for (size_t pos = 0; pos < bytes.size(); pos += cut) {
      reader.Append(bytes.subspan(pos, std::min(cut, bytes.size() - pos)));
      for (;;) {
        auto m = reader.Next();
        ASSERT_TRUE(m.ok()) << m.status().ToString();
        if (!*m) break;
        got.push_back(std::move(**m));
      }
      if (cut == 1 && got.size() >= 2) break;  // one byte at a time: enough of the big row
    }
    ASSERT_GE(got.size(), 2u);
    EXPECT_EQ(got[0].relation.name, "devices");
    EXPECT_EQ(got[1].new_tuple[1].text.size(), 3u << 20);
    if (got.size() == 4) {
      EXPECT_EQ(got[2].new_tuple[1].kind, PgValue::kUnchanged);
      EXPECT_EQ(got[2].old_kind, 'K');
      EXPECT_EQ(got[3].end_lsn, 12345u);
      EXPECT_TRUE(reader.empty());
    }
  }
}

TEST(DbProtocolTest, HostileRecordsAreRefused) {
  auto decode = [](std::vector<uint8_t> raw) {
    ChangeReader r;
    std::vector<std::byte> b;
    for (uint8_t x : raw) b.push_back(std::byte{x});
    r.Append(b);
    return r.Next();
  };
  EXPECT_FALSE(decode({2, 'Z', 0}).ok()) << "unknown record";
  EXPECT_FALSE(decode({3, 'I', 1, 'K'}).ok()) << "an insert with an old row";
  EXPECT_FALSE(decode({3, 'D', 1, 0}).ok()) << "a delete without a key";
  EXPECT_FALSE(decode({4, 'I', 1, 0, 1}).ok()) << "truncated tuple";
  EXPECT_FALSE(decode({5, 'I', 1, 0, 1, 'x'}).ok()) << "unknown value kind";
  EXPECT_FALSE(decode({3, 'T', 0, 0}).ok()) << "truncate of nothing";
  EXPECT_FALSE(decode({3, 'C', 5, 9}).ok()) << "trailing bytes";
  EXPECT_FALSE(decode({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}).ok())
      << "a record length past the limit";
  // An incomplete record is not an error: it waits for the next frame.
  auto partial = decode({9, 'I'});
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(partial->has_value());
}

// A few bytes claiming the most tables, ranges or sequences the limits allow: refused before
// anything is sized from the count.
TEST(DbProtocolTest, TinyPayloadsClaimingHugeCountsReserveNothing) {
  auto expect_refused = [](const Status& s, size_t largest) {
    EXPECT_EQ(s.code(), Code::kProtocol);
    EXPECT_NE(s.message().find("more than the message holds"), std::string::npos) << s.ToString();
    EXPECT_LT(largest, size_t{64} << 10);
  };
  Encoder begin;
  begin.PutU8(0);
  begin.PutString("");
  begin.PutString("");
  begin.PutVarint(kMaxTables);
  ResetLargestAllocation();
  Status s = DecodeDbBegin(begin.view()).status();
  expect_refused(s, LargestAllocation());
  Encoder request;
  request.PutU8(0);
  request.PutVarint(0);
  request.PutString("");
  request.PutVarint(1 << 16);
  ResetLargestAllocation();
  s = DecodeDbRequest(request.view()).status();
  expect_refused(s, LargestAllocation());
  Encoder sequences;
  sequences.PutVarint(kMaxTables);
  ResetLargestAllocation();
  s = DecodeDbSequences(sequences.view()).status();
  expect_refused(s, LargestAllocation());
  // The change stream: an insert claiming the most columns in a 4-byte body.
  ChangeReader r;
  std::vector<std::byte> b{std::byte{5}, std::byte{'I'},  std::byte{1},
                           std::byte{0}, std::byte{0x80}, std::byte{0x0d}};
  r.Append(b);
  ResetLargestAllocation();
  s = r.Next().status();
  expect_refused(s, LargestAllocation());
}

TEST(DbProtocolTest, MessagesRoundTripAndRefuseGarbage) {
  DbBegin b{.full = true,
            .reason = "first sync",
            .source_id = "1/mdm",
            .tables = {{"public", "devices", "id bigint not null; key (id)"}}};
  Encoder e;
  Encode(b, e);
  auto d = DecodeDbBegin(e.view());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->tables[0].description, "id bigint not null; key (id)");
  auto bad = e.buffer();
  bad.push_back(std::byte{1});
  EXPECT_FALSE(DecodeDbBegin(bad).ok());
  Encoder c;
  Encode(DbCopyBegin{.schema = "", .name = "t", .columns = {}}, c);
  EXPECT_FALSE(DecodeDbCopyBegin(c.view()).ok()) << "empty schema name";
  Encoder r;
  Encode(DbRequest{.force_full = false, .start_lsn = 99, .source_id = "x"}, r);
  EXPECT_EQ(DecodeDbRequest(r.view())->start_lsn, 99u);
}

}  // namespace
}  // namespace hasync::engine

namespace hasync::engine {
namespace {

TEST(DbProtocolTest, RequestFlagsAndRepairRangesRoundTrip) {
  DbRequest m{.force_full = false, .start_lsn = 0x2EE6B18, .source_id = "7/mdm"};
  m.pinned = true;
  m.sample = true;
  m.repair = {{.schema = "public", .name = "devices", .key = "id", .from = "2001", .to = ""}};
  Encoder e;
  Encode(m, e);
  auto d = DecodeDbRequest(e.view());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(d->pinned);
  EXPECT_TRUE(d->sample);
  EXPECT_FALSE(d->counts_only);
  EXPECT_EQ(d->SampleSeed(), static_cast<int>(0x2EE6B18 % 8));
  ASSERT_EQ(d->repair.size(), 1u);
  EXPECT_EQ(d->repair[0].from, "2001");
  EXPECT_EQ(d->repair[0].key, "id");
  for (size_t cut = 0; cut < e.view().size(); ++cut) {
    EXPECT_FALSE(DecodeDbRequest(e.view().subspan(0, cut)).ok()) << cut;
  }
}

TEST(DbProtocolTest, SchemaObjectsAndChangesRoundTripAndAreBounded) {
  DbRequest m{.force_full = false, .start_lsn = 7, .source_id = "7/mdm"};
  m.has_schema = true;
  m.schema = {{.kind = snapshot::ObjectKind::kType,
               .schema = "public",
               .name = "mood",
               .digest = "abc",
               .flags = snapshot::kObjectEnum,
               .owner = "",
               .labels = {"calm", "angry"}},
              {.kind = snapshot::ObjectKind::kSchema, .schema = "app", .name = "", .digest = "d"}};
  m.primary_tables = {{"public", "devices", "", "16384/0cc175b9c0f1b6a831c399e269772661"}};
  Encoder e;
  Encode(m, e);
  auto d = DecodeDbRequest(e.view());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(d->has_schema);
  EXPECT_EQ(d->schema, m.schema);
  ASSERT_EQ(d->primary_tables.size(), 1u);
  EXPECT_EQ(d->primary_tables[0].token, "16384/0cc175b9c0f1b6a831c399e269772661");
  for (size_t cut = 0; cut < e.view().size(); ++cut) {
    EXPECT_FALSE(DecodeDbRequest(e.view().subspan(0, cut)).ok()) << cut;
  }
  DbBegin b{.full = false, .reason = "", .source_id = "1/mdm", .tables = {}};
  b.schema = {{.kind = snapshot::ObjectKind::kTable,
               .action = SchemaAction::kRecreated,
               .schema = "public",
               .name = "notes",
               .digest = "x",
               .labels = {}}};
  Encoder eb;
  Encode(b, eb);
  auto db = DecodeDbBegin(eb.view());
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_EQ(db->schema, b.schema);
  // A kind, an action or flags out of range, and a schema object claiming 2^20 entries in a few
  // bytes, are refused.
  auto bad = eb.buffer();
  bad[bad.size() - 18] = std::byte{9};  // the change's kind: 18 bytes from the end
  EXPECT_FALSE(DecodeDbBegin(bad).ok());
  Encoder huge;
  huge.PutU8(16);
  huge.PutVarint(0);
  huge.PutString("");
  huge.PutVarint(0);
  huge.PutVarint(kMaxSchemaObjects);
  ResetLargestAllocation();
  Status s = DecodeDbRequest(huge.view()).status();
  EXPECT_EQ(s.code(), Code::kProtocol);
  EXPECT_LT(LargestAllocation(), size_t{64} << 10);
}

}  // namespace
}  // namespace hasync::engine
