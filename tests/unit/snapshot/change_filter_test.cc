// A sync's change stream without PostgreSQL: what reaches the Secondary (tables in scope only,
// no empty transactions) and where the stream ends (this sync's marker, or the pinned bound).
#include "snapshot/change_filter.h"

#include <gtest/gtest.h>

namespace hasync::snapshot {
namespace {

constexpr uint32_t kKept = 1;
constexpr uint32_t kPrivate = 2;   // in an excluded schema
constexpr uint32_t kExcluded = 3;  // in exclude_tables

PgMessage Relation(uint32_t id, const std::string& schema, const std::string& name) {
  PgMessage m;
  m.type = PgMessage::kRelation;
  m.relation = {.id = id, .schema = schema, .name = name, .replident = 'd', .columns = {}};
  return m;
}
PgMessage Of(PgMessage::Type type, uint32_t rel = 0) {
  PgMessage m;
  m.type = type;
  m.rel_id = rel;
  return m;
}
PgMessage Begin(Lsn final_lsn) {
  PgMessage m = Of(PgMessage::kBegin);
  m.final_lsn = final_lsn;
  return m;
}
PgMessage Commit(Lsn end_lsn) {
  PgMessage m = Of(PgMessage::kCommit);
  m.end_lsn = end_lsn;
  return m;
}
PgMessage Marker(const std::string& token) {
  PgMessage m = Of(PgMessage::kMessage);
  m.transactional = true;
  m.prefix = kMarkerPrefix;
  m.content = token;
  return m;
}

class ChangeFilterTest : public ::testing::Test {
 protected:
  explicit ChangeFilterTest(Lsn bound = 0)
      : filter_({.scope = {.include_schemas = {},
                           .exclude_schemas = {"private"},
                           .exclude_tables = {"public.audit"}},
                 .token = "t0k3n",
                 .bound = bound}) {}

  // Feeds m; returns the type forwarded, or 0 when it was dropped.
  int Feed(PgMessage m) {
    auto r = filter_.Add(std::move(m));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || !r->has_value()) return 0;
    last_ = **r;
    return last_.type;
  }
  void DescribeAll() {
    EXPECT_EQ(Feed(Relation(kKept, "public", "devices")), PgMessage::kRelation);
    EXPECT_EQ(Feed(Relation(kPrivate, "private", "keys")), 0);
    EXPECT_EQ(Feed(Relation(kExcluded, "public", "audit")), 0);
  }

  ChangeFilter filter_;
  PgMessage last_;
};

TEST_F(ChangeFilterTest, ChangesOutsideTheScopeStayBehind) {
  DescribeAll();
  EXPECT_EQ(Feed(Begin(100)), 0);
  EXPECT_EQ(Feed(Of(PgMessage::kInsert, kKept)), PgMessage::kInsert);
  EXPECT_EQ(Feed(Of(PgMessage::kUpdate, kPrivate)), 0);
  EXPECT_EQ(Feed(Of(PgMessage::kDelete, kExcluded)), 0);
  EXPECT_EQ(Feed(Commit(110)), PgMessage::kCommit);
  EXPECT_EQ(filter_.changes(), 1u);
  EXPECT_EQ(filter_.transactions(), 1u);
  EXPECT_FALSE(filter_.done());
}

TEST_F(ChangeFilterTest, TransactionWithNothingInScopeIsNotSent) {
  DescribeAll();
  EXPECT_EQ(Feed(Begin(100)), 0);
  EXPECT_EQ(Feed(Of(PgMessage::kInsert, kPrivate)), 0);
  EXPECT_EQ(Feed(Commit(110)), 0);
  EXPECT_EQ(filter_.transactions(), 0u);
}

TEST_F(ChangeFilterTest, TruncateKeepsOnlyItsTablesInScope) {
  DescribeAll();
  PgMessage t = Of(PgMessage::kTruncate);
  t.truncate_rels = {kPrivate, kKept, 99, kExcluded};
  EXPECT_EQ(Feed(t), PgMessage::kTruncate);
  EXPECT_EQ(last_.truncate_rels, (std::vector<uint32_t>{kKept}));
  t.truncate_rels = {kPrivate, kExcluded};
  EXPECT_EQ(Feed(t), 0) << "nothing of it in scope";
  EXPECT_EQ(filter_.changes(), 1u);
}

TEST_F(ChangeFilterTest, StreamEndsAtTheCommitOfThisSyncsMarker) {
  DescribeAll();
  EXPECT_EQ(Feed(Begin(200)), 0);
  EXPECT_EQ(Feed(Marker("another sync's")), 0);
  EXPECT_EQ(Feed(Commit(210)), 0);
  EXPECT_FALSE(filter_.done());
  EXPECT_EQ(Feed(Begin(300)), 0);
  EXPECT_EQ(Feed(Marker("t0k3n")), 0);
  EXPECT_FALSE(filter_.done()) << "not before its commit";
  EXPECT_EQ(Feed(Commit(310)), 0);
  EXPECT_TRUE(filter_.done());
  EXPECT_EQ(filter_.end_lsn(), 310u);
}

// The event trigger's refresh messages name materialized views by OID; anything else with that
// prefix (a hostile or broken writer: not a number, past 2^32) is ignored.
TEST_F(ChangeFilterTest, RefreshMessagesNameTheViewsRefreshedInTheWindow) {
  auto refresh = [](const std::string& content) {
    PgMessage m = Marker(content);
    m.prefix = kRefreshPrefix;
    return m;
  };
  EXPECT_EQ(Feed(Begin(200)), 0);
  EXPECT_EQ(Feed(refresh("16390")), 0) << "never forwarded";
  EXPECT_EQ(Feed(refresh("16385")), 0);
  EXPECT_EQ(Feed(refresh("16390")), 0);
  EXPECT_EQ(Feed(refresh("x1")), 0);
  EXPECT_EQ(Feed(refresh("99999999999")), 0);
  EXPECT_EQ(Feed(refresh("")), 0);
  EXPECT_EQ(Feed(Commit(210)), 0);
  EXPECT_EQ(filter_.refreshed(), (std::set<uint32_t>{16385, 16390}));
}

TEST_F(ChangeFilterTest, ChangeBeforeItsRelationIsRefused) {
  auto r = filter_.Add(Of(PgMessage::kInsert, kKept));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDatabase);
}

class PinnedChangeFilterTest : public ChangeFilterTest {
 protected:
  PinnedChangeFilterTest() : ChangeFilterTest(/*bound=*/500) {}
};

TEST_F(PinnedChangeFilterTest, TransactionCommittingAtTheBoundEndsTheStreamThere) {
  DescribeAll();
  EXPECT_EQ(Feed(Begin(499)), 0);
  EXPECT_EQ(Feed(Of(PgMessage::kInsert, kKept)), PgMessage::kInsert);
  EXPECT_EQ(Feed(Commit(505)), PgMessage::kCommit) << "committed before the bound";
  EXPECT_FALSE(filter_.done());
  EXPECT_EQ(Feed(Begin(500)), 0);
  EXPECT_TRUE(filter_.done());
  EXPECT_EQ(filter_.end_lsn(), 500u);
  EXPECT_EQ(filter_.transactions(), 1u);
}

}  // namespace
}  // namespace hasync::snapshot
