// The statements the change applier runs, without PostgreSQL: their text, their parameters (which
// point at the change's own values), and the rows each must change.
#include "engine/db/change_sql.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

using snapshot::PgMessage;
using snapshot::PgValue;

PgValue Text(const std::string& s) { return {PgValue::kText, s}; }
const PgValue kNull{PgValue::kNull, ""};
const PgValue kUnchanged{PgValue::kUnchanged, ""};

// devices (id bigint key, name text, attrs jsonb)
ApplyRelation Devices(char replident = 'd') {
  return ApplyRelation{.qname = "\"public\".\"devices\"",
                       .display = "public.devices",
                       .cols = {"\"id\"", "\"name\"", "\"attrs\""},
                       .key = {true, false, false},
                       .types = {"bigint", "text", "jsonb"},
                       .replident = replident};
}

PgMessage Change(PgMessage::Type type, snapshot::PgTuple new_tuple, char old_kind = 0,
                 snapshot::PgTuple old_tuple = {}) {
  PgMessage m;
  m.type = type;
  m.rel_id = 7;
  m.new_tuple = std::move(new_tuple);
  m.old_kind = old_kind;
  m.old_tuple = std::move(old_tuple);
  return m;
}

std::vector<std::string> Values(const ApplyStatement& st) {
  std::vector<std::string> out;
  for (const char* p : st.params) out.push_back(p == nullptr ? "NULL" : p);
  return out;
}

ApplyStatement Row(const PgMessage& m, const ApplyRelation& r = Devices()) {
  auto st = RowStatement(r, m);
  EXPECT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_TRUE(st.ok() && st->has_value());
  return st.ok() && st->has_value() ? **st : ApplyStatement{};
}

TEST(ChangeSqlTest, InsertCopiesTheIdentityValuesTheyCarry) {
  PgMessage m = Change(PgMessage::kInsert, {Text("1"), Text("a"), kNull});
  ApplyStatement st = Row(m);
  EXPECT_EQ(st.kind, ApplyStatement::Kind::kPrepared);
  EXPECT_EQ(st.sql,
            "INSERT INTO \"public\".\"devices\" (\"id\", \"name\", \"attrs\") OVERRIDING SYSTEM "
            "VALUE VALUES ($1, $2, $3)");
  EXPECT_EQ(Values(st), (std::vector<std::string>{"1", "a", "NULL"}));
  EXPECT_EQ(st.params[0], m.new_tuple[0].text.c_str()) << "parameters point at the change";
  EXPECT_EQ(st.rows, -1);
}

TEST(ChangeSqlTest, UpdateSetsWhatChangedAndMustMatchOneRow) {
  PgMessage change =
      Change(PgMessage::kUpdate,
             {Text("7"), Text("b"), kUnchanged});  // the statement's parameters point into it
  ApplyStatement st = Row(change);
  EXPECT_EQ(st.sql,
            "UPDATE \"public\".\"devices\" SET \"id\" = $1, \"name\" = $2 WHERE \"id\" = $3");
  EXPECT_EQ(Values(st), (std::vector<std::string>{"7", "b", "7"}));
  EXPECT_EQ(st.rows, 1);
  EXPECT_EQ(st.what, "an update of public.devices (key 7)");
}

TEST(ChangeSqlTest, UpdateOfAChangedKeyFindsTheRowByItsOldKey) {
  PgMessage change = Change(PgMessage::kUpdate, {Text("8"), Text("b"), kNull}, 'K',
                            {Text("7"), kNull, kNull});  // the statement's parameters point into it
  ApplyStatement st = Row(change);
  EXPECT_EQ(st.sql,
            "UPDATE \"public\".\"devices\" SET \"id\" = $1, \"name\" = $2, \"attrs\" = $3 WHERE "
            "\"id\" = $4");
  EXPECT_EQ(Values(st).back(), "7");
}

TEST(ChangeSqlTest, UpdateOfOnlyUnchangedValuesIsNoStatement) {
  auto st =
      RowStatement(Devices(), Change(PgMessage::kUpdate, {kUnchanged, kUnchanged, kUnchanged}));
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->has_value());
}

TEST(ChangeSqlTest, NullKeyValueMatchesWithIsNull) {
  PgMessage change = Change(PgMessage::kDelete, {}, 'K',
                            {kNull, kNull, kNull});  // the statement's parameters point into it
  ApplyStatement st = Row(change);
  EXPECT_EQ(st.sql, "DELETE FROM \"public\".\"devices\" WHERE \"id\" IS NULL");
  EXPECT_TRUE(st.params.empty());
  EXPECT_EQ(st.what, "a delete from public.devices (key )");
}

TEST(ChangeSqlTest, FullIdentityDeleteRemovesOneMatchingRow) {
  ApplyRelation r = Devices('f');
  r.key = {true, true, true};
  PgMessage change = Change(PgMessage::kDelete, {}, 'O', {Text("1"), Text("a"), kNull});
  ApplyStatement st = Row(change, r);
  EXPECT_EQ(st.sql,
            "DELETE FROM \"public\".\"devices\" WHERE ctid = (SELECT ctid FROM "
            "\"public\".\"devices\" WHERE \"id\" = $1 AND \"name\" = $2 AND \"attrs\" IS NULL "
            "LIMIT 1)");
  EXPECT_EQ(st.rows, 1);
}

TEST(ChangeSqlTest, ChangesThatDoNotFitTheRelationAreRefused) {
  const ApplyRelation r = Devices();
  for (const PgMessage& m : {
           Change(PgMessage::kInsert, {Text("1")}),                          // column count
           Change(PgMessage::kInsert, {Text("1"), kUnchanged, kNull}),       // a value missing
           Change(PgMessage::kDelete, {}, 'K', {Text("1")}),                 // old column count
           Change(PgMessage::kDelete, {}, 'K', {kUnchanged, kNull, kNull}),  // no key
       }) {
    auto st = RowStatement(r, m);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.status().code(), Code::kProtocol);
  }
}

TEST(ChangeSqlTest, UpdateRunJoinsAValuesListCastOnItsFirstRow) {
  ChangeBatch b{.kind = ChangeBatch::Kind::kValues,
                .rel = 7,
                .type = PgMessage::kUpdate,
                .set = {true, false, true},
                .changes = {}};
  b.changes.push_back(Change(PgMessage::kUpdate, {Text("1"), kUnchanged, Text("{}")}));
  b.changes.push_back(Change(PgMessage::kUpdate, {Text("2"), kUnchanged, kNull}));
  auto st = ValuesStatement(Devices(), b);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->kind, ApplyStatement::Kind::kParams);
  EXPECT_EQ(st->sql,
            "UPDATE \"public\".\"devices\" AS t SET \"attrs\" = v.v1 FROM (VALUES "
            "($1::bigint, $2::jsonb), ($3, $4)) AS v(v0, v1) WHERE t.\"id\" = v.v0");
  EXPECT_EQ(Values(*st), (std::vector<std::string>{"1", "{}", "2", "NULL"}));
  EXPECT_EQ(st->rows, 2);
  EXPECT_EQ(st->what, "2 updates of public.devices");
}

TEST(ChangeSqlTest, DeleteRunJoinsAValuesListOnTheKey) {
  ChangeBatch b{.kind = ChangeBatch::Kind::kValues,
                .rel = 7,
                .type = PgMessage::kDelete,
                .set = {},
                .changes = {}};
  for (const char* id : {"1", "2", "3"}) {
    b.changes.push_back(Change(PgMessage::kDelete, {}, 'K', {Text(id), kNull, kNull}));
  }
  auto st = ValuesStatement(Devices(), b);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->sql,
            "DELETE FROM \"public\".\"devices\" AS t USING (VALUES ($1::bigint), ($2), ($3)) AS "
            "v(v0) WHERE t.\"id\" = v.v0");
  EXPECT_EQ(st->rows, 3);
  EXPECT_EQ(st->what, "3 deletes from public.devices");
}

TEST(ChangeSqlTest, UpdateRunSettingOnlyTheKeyIsNoStatement) {
  ChangeBatch b{.kind = ChangeBatch::Kind::kValues,
                .rel = 7,
                .type = PgMessage::kUpdate,
                .set = {true, false, false},
                .changes = {}};
  b.changes.push_back(Change(PgMessage::kUpdate, {Text("1"), kUnchanged, kUnchanged}));
  b.changes.push_back(Change(PgMessage::kUpdate, {Text("2"), kUnchanged, kUnchanged}));
  EXPECT_FALSE(ValuesStatement(Devices(), b).has_value());
}

TEST(ChangeSqlTest, CopyTextRowEscapesAndMarksNulls) {
  EXPECT_EQ(CopyTextRow({Text("a\\b\tc\nd\re"), kNull, Text("")}), "a\\\\b\\tc\\nd\\re\t\\N\t\n");
  EXPECT_EQ(CopyInSql(Devices()),
            "COPY \"public\".\"devices\" (\"id\", \"name\", \"attrs\") FROM STDIN");
}

TEST(ChangeSqlTest, TruncateCarriesItsOptions) {
  EXPECT_EQ(TruncateSql({"\"a\".\"b\""}, 0), "TRUNCATE ONLY \"a\".\"b\"");
  EXPECT_EQ(TruncateSql({"x", "y"}, 3), "TRUNCATE ONLY x, y RESTART IDENTITY CASCADE");
}

}  // namespace
}  // namespace hasync::engine
