// The change applier's batching rules, without PostgreSQL: which changes share a statement, and
// where a run must end so that the batch means what the changes in order mean.
#include "engine/db/change_batcher.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

using snapshot::PgMessage;
using snapshot::PgValue;
using Kind = ChangeBatch::Kind;

constexpr uint32_t kDevices = 7;
constexpr uint32_t kSites = 8;

ApplyRelation Relation(size_t columns, char replident = 'd') {
  ApplyRelation r{.qname = "\"public\".\"t\"", .display = "public.t", .replident = replident};
  for (size_t i = 0; i < columns; ++i) {
    r.cols.push_back("\"c" + std::to_string(i) + "\"");
    r.key.push_back(i == 0);
    r.types.push_back("text");
  }
  return r;
}

PgValue Text(const std::string& s) { return {PgValue::kText, s}; }

PgMessage Insert(uint32_t rel, const std::string& id) {
  PgMessage m;
  m.type = PgMessage::kInsert;
  m.rel_id = rel;
  m.new_tuple = {Text(id), Text("v")};
  return m;
}

PgMessage Update(uint32_t rel, const std::string& id, PgValue value = Text("v")) {
  PgMessage m;
  m.type = PgMessage::kUpdate;
  m.rel_id = rel;
  m.new_tuple = {Text(id), std::move(value)};
  return m;
}

PgMessage Delete(uint32_t rel, const std::string& id) {
  PgMessage m;
  m.type = PgMessage::kDelete;
  m.rel_id = rel;
  m.old_kind = 'K';
  m.old_tuple = {Text(id), {PgValue::kNull, ""}};
  return m;
}

class ChangeBatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    batcher_.Describe(kDevices, Relation(2));
    batcher_.Describe(kSites, Relation(2));
  }

  // Adds m, expecting it to complete no batch.
  void AddQuietly(PgMessage m) {
    auto r = batcher_.Add(std::move(m));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->empty());
  }
  std::vector<ChangeBatch> Add(PgMessage m) {
    auto r = batcher_.Add(std::move(m));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : std::vector<ChangeBatch>{};
  }

  ChangeBatcher batcher_;
};

TEST_F(ChangeBatcherTest, LongRunOfInsertsGoesThroughOneCopy) {
  for (int i = 0; i < 20; ++i) AddQuietly(Insert(kDevices, std::to_string(i)));
  auto out = batcher_.Flush();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kCopy);
  EXPECT_EQ(out[0].rel, kDevices);
  ASSERT_EQ(out[0].changes.size(), 20u);
  EXPECT_EQ(out[0].changes[19].new_tuple[0].text, "19");
  EXPECT_TRUE(batcher_.Flush().empty()) << "a flushed run is gone";
}

TEST_F(ChangeBatcherTest, ShortRunOfInsertsGoesRowByRow) {
  for (size_t i = 0; i + 1 < ChangeBatcher::kCopyMinRows; ++i) {
    AddQuietly(Insert(kDevices, std::to_string(i)));
  }
  auto out = batcher_.Flush();
  ASSERT_EQ(out.size(), ChangeBatcher::kCopyMinRows - 1);
  for (const auto& b : out) {
    EXPECT_EQ(b.kind, Kind::kRow);
    EXPECT_EQ(b.changes.size(), 1u);
  }
  EXPECT_EQ(out[3].changes[0].new_tuple[0].text, "3") << "in stream order";
}

TEST_F(ChangeBatcherTest, UpdatesOfDistinctRowsJoinOneValuesList) {
  AddQuietly(Update(kDevices, "1"));
  AddQuietly(Update(kDevices, "2"));
  auto out = batcher_.Flush();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kValues);
  EXPECT_EQ(out[0].type, PgMessage::kUpdate);
  EXPECT_EQ(out[0].set, (std::vector<bool>{true, true}));
  EXPECT_EQ(out[0].changes.size(), 2u);
}

TEST_F(ChangeBatcherTest, RunOfOneIsAppliedAsARow) {
  AddQuietly(Delete(kDevices, "1"));
  auto out = batcher_.Flush();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kRow);
}

TEST_F(ChangeBatcherTest, RowChangedTwiceSplitsTheRun) {
  AddQuietly(Update(kDevices, "1"));
  AddQuietly(Update(kDevices, "2"));
  auto out = Add(Update(kDevices, "1"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kValues);
  EXPECT_EQ(out[0].changes.size(), 2u);
  auto rest = batcher_.Flush();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].changes[0].new_tuple[0].text, "1");
}

TEST_F(ChangeBatcherTest, AnotherKindOrTableEndsTheRun) {
  AddQuietly(Delete(kDevices, "1"));
  AddQuietly(Delete(kDevices, "2"));
  auto out = Add(Delete(kSites, "3"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rel, kDevices);
  out = Add(Insert(kSites, "4"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, PgMessage::kDelete);
  EXPECT_EQ(out[0].rel, kSites);
}

TEST_F(ChangeBatcherTest, UpdatesSettingOtherColumnsSplitTheRun) {
  AddQuietly(Update(kDevices, "1"));
  auto out = Add(Update(kDevices, "2", {PgValue::kUnchanged, ""}));
  ASSERT_EQ(out.size(), 1u);
  auto rest = batcher_.Flush();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].changes[0].new_tuple[0].text, "2");
}

TEST_F(ChangeBatcherTest, ChangedKeyIsAppliedAloneAfterThePendingRun) {
  AddQuietly(Update(kDevices, "1"));
  AddQuietly(Update(kDevices, "2"));
  PgMessage moved = Update(kDevices, "9");
  moved.old_kind = 'K';
  moved.old_tuple = {Text("3"), {PgValue::kNull, ""}};
  auto out = Add(std::move(moved));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, Kind::kValues);
  EXPECT_EQ(out[1].kind, Kind::kRow);
  EXPECT_EQ(out[1].changes[0].new_tuple[0].text, "9");
  EXPECT_TRUE(batcher_.Flush().empty());
}

TEST_F(ChangeBatcherTest, NullKeyIsAppliedAlone) {
  PgMessage m = Delete(kDevices, "");
  m.old_tuple[0] = {PgValue::kNull, ""};
  auto out = Add(std::move(m));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kRow);
}

TEST_F(ChangeBatcherTest, ReplicaIdentityFullIsAppliedRowByRow) {
  batcher_.Describe(kDevices, Relation(2, 'f'));
  for (const char* id : {"1", "2"}) {
    auto out = Add(Delete(kDevices, id));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].kind, Kind::kRow);
  }
  for (const char* id : {"3", "4"}) {
    auto out = Add(Insert(kDevices, id));
    ASSERT_EQ(out.size(), 1u) << "inserts too: no run without a key";
  }
}

TEST_F(ChangeBatcherTest, RunStopsAtItsRowLimit) {
  for (size_t i = 0; i < ChangeBatcher::kBatchRows; ++i) {
    AddQuietly(Delete(kDevices, std::to_string(i)));
  }
  auto out = Add(Delete(kDevices, "next"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].changes.size(), ChangeBatcher::kBatchRows);
}

TEST_F(ChangeBatcherTest, WideTableRunStaysUnderTheParameterLimit) {
  batcher_.Describe(kDevices, Relation(999));  // 1000 parameters a row, with the key
  auto wide = [](const std::string& id) {
    PgMessage m = Delete(kDevices, id);
    m.old_tuple.resize(999, {PgValue::kNull, ""});
    return m;
  };
  const size_t limit = ChangeBatcher::kMaxParams / 1000;
  for (size_t i = 0; i < limit; ++i) AddQuietly(wide(std::to_string(i)));
  auto out = Add(wide("next"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].changes.size(), limit);
}

TEST_F(ChangeBatcherTest, ChangeToAnUndescribedRelationIsRefused) {
  auto r = batcher_.Add(Insert(99, "1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kProtocol);
  EXPECT_NE(r.status().message().find("relation 99"), std::string::npos);
}

}  // namespace
}  // namespace hasync::engine
