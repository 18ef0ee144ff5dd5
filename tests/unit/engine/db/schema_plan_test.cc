// The schema plan's rules, from two object lists alone: what an incremental sync carries, what
// makes it a full copy (and the words it says why), a table dropped and re-created alike found by
// its OID, and where new enum labels go.
#include "engine/db/schema_plan.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

using snapshot::ObjectKind;
using snapshot::SchemaObject;

SchemaObject Table(const std::string& name, const std::string& digest, uint8_t flags = 0,
                   const std::string& token = "") {
  return SchemaObject{.kind = ObjectKind::kTable,
                      .schema = "public",
                      .name = name,
                      .digest = digest,
                      .flags = flags,
                      .owner = "",
                      .labels = {},
                      .token = token};
}

SchemaObject Enum(const std::string& name, std::vector<std::string> labels) {
  std::string digest;
  for (const auto& l : labels) digest += l + ",";
  return SchemaObject{.kind = ObjectKind::kType,
                      .schema = "public",
                      .name = name,
                      .digest = digest,
                      .flags = snapshot::kObjectEnum,
                      .owner = "",
                      .labels = std::move(labels)};
}

std::vector<std::string> Described(const SchemaPlan& plan) {
  std::vector<std::string> out;
  for (const auto& c : plan.changes) out.push_back(DescribeChange(c));
  return out;
}

TEST(SchemaPlanTest, EqualSchemasNeedNothing) {
  std::vector<SchemaObject> s = {Table("a", "1"), Enum("mood", {"x", "y"})};
  EXPECT_TRUE(PlanSchemaChanges(s, s).empty());
}

TEST(SchemaPlanTest, TablesAddedDroppedAndAlteredAreCarriedInKindOrder) {
  SchemaObject seq{.kind = ObjectKind::kSequence,
                   .schema = "public",
                   .name = "b_id_seq",
                   .digest = "s",
                   .flags = 0,
                   .owner = "public.b"};
  auto plan = PlanSchemaChanges({Table("a", "2"), Table("b", "1"), seq},
                                {Table("a", "1"), Table("c", "1")});
  EXPECT_TRUE(plan.full_copy.empty()) << plan.full_copy;
  EXPECT_EQ(Described(plan),
            (std::vector<std::string>{
                "sequence public.b_id_seq added", "table public.a altered, copied whole",
                "table public.b added, copied whole", "table public.c dropped"}));
  EXPECT_EQ(TablesToCopy(plan.changes), (std::vector<std::string>{"public.a", "public.b"}));
  EXPECT_EQ(TablesLeftOutOfTheStream(plan.changes),
            (std::vector<std::string>{"public.a", "public.b", "public.c"}));
  EXPECT_EQ(ObjectsToDump(plan.changes).size(), 3u) << "the sequence and the two tables";
  EXPECT_EQ(plan.changes[1].digest, "2") << "the Primary's digest, for the Secondary's check";
}

TEST(SchemaPlanTest, ATableAlikeWithANewTokenWasRecreated) {
  std::vector<DbTableDesc> remembered = {{"public", "a", "", "10/x"}, {"public", "b", "", "11/x"}};
  auto plan =
      PlanSchemaChanges({Table("a", "1", 0, "10/x"), Table("b", "1", 0, "11/y")},
                        {Table("a", "1", 0, "500/s"), Table("b", "1", 0, "501/s")}, remembered);
  EXPECT_EQ(Described(plan), std::vector<std::string>{"table public.b re-created, copied whole"});
  // Nothing remembered (the first sync of this version): nothing to compare.
  EXPECT_TRUE(
      PlanSchemaChanges({Table("b", "1", 0, "11/y")}, {Table("b", "1", 0, "501/s")}).empty());
}

TEST(SchemaPlanTest, WhatASyncCannotCarryIsAFullCopyNamingTheFirstObject) {
  auto why = [](std::vector<SchemaObject> p, std::vector<SchemaObject> s) {
    auto plan = PlanSchemaChanges(p, s);
    EXPECT_TRUE(plan.changes.empty());
    return plan.full_copy;
  };
  EXPECT_EQ(why({Table("a", "2", snapshot::kObjectHasViews)}, {Table("a", "1")}),
            "table public.a altered: other objects depend on it (views, functions, columns of its "
            "row type or policies), which re-creating it would drop");
  EXPECT_EQ(why({Table("a", "2")}, {Table("a", "1", snapshot::kObjectInherits)}),
            "table public.a altered: it is partitioned, a partition or inherits, which a sync "
            "does not carry table by table");
  SchemaObject domain{.kind = ObjectKind::kType, .schema = "public", .name = "year", .digest = "d"};
  EXPECT_EQ(why({domain}, {}),
            "type public.year added: of types, only enums are carried by a sync");
  EXPECT_EQ(why({Enum("mood", {"b", "a"})}, {Enum("mood", {"a", "b"})}),
            "type public.mood altered: its labels were renamed, removed or reordered");
  SchemaObject ext{
      .kind = ObjectKind::kExtension, .schema = "public", .name = "pgcrypto", .digest = "1.3"};
  EXPECT_EQ(why({ext}, {}),
            "extension public.pgcrypto added: extensions are created on each node, not by a sync");
  SchemaObject mv{.kind = ObjectKind::kView,
                  .schema = "public",
                  .name = "m",
                  .digest = "v",
                  .flags = snapshot::kObjectMaterialized};
  EXPECT_EQ(why({mv}, {}), "view public.m added: materialized views are not carried by a sync");
  SchemaObject agg{
      .kind = ObjectKind::kFunction, .schema = "public", .name = "total(integer)", .digest = "a"};
  EXPECT_EQ(why({agg}, {}),
            "function public.total(integer) added: aggregates and window functions are not "
            "carried by a sync");
  // A sequence's own parameters; the same sequence going with its re-created table is carried.
  SchemaObject s1{.kind = ObjectKind::kSequence, .schema = "public", .name = "s", .digest = "1"};
  SchemaObject s2 = s1;
  s2.digest = "2";
  EXPECT_EQ(why({s2}, {s1}),
            "sequence public.s altered: a sync does not change a sequence's parameters");
  s1.owner = "public.a";
  auto plan = PlanSchemaChanges({s2, Table("a", "2")}, {s1, Table("a", "1")});
  EXPECT_TRUE(plan.full_copy.empty()) << plan.full_copy;
  EXPECT_EQ(plan.changes.size(), 2u);
}

TEST(SchemaPlanTest, NewEnumLabelsGoWhereThePrimaryHasThem) {
  auto adds = LabelsToAdd({"calm", "angry"}, {"first", "calm", "happy", "angry", "sad", "last"});
  ASSERT_TRUE(adds.has_value());
  ASSERT_EQ(adds->size(), 4u);
  EXPECT_EQ((*adds)[0].label, "first");
  EXPECT_EQ((*adds)[0].before, "calm");
  EXPECT_EQ((*adds)[0].after, "");
  EXPECT_EQ((*adds)[1].label, "happy");
  EXPECT_EQ((*adds)[1].after, "calm");
  EXPECT_EQ((*adds)[2].after, "angry");
  EXPECT_EQ((*adds)[3].after, "sad") << "after the label added just before it";
  EXPECT_FALSE(LabelsToAdd({"a", "b"}, {"b", "a"}).has_value());
  EXPECT_FALSE(LabelsToAdd({"a", "b"}, {"a"}).has_value());
  EXPECT_TRUE(LabelsToAdd({"a"}, {"a"})->empty());
  auto plan = PlanSchemaChanges({Enum("mood", {"a", "z", "b"})}, {Enum("mood", {"a", "b"})});
  EXPECT_EQ(Described(plan), std::vector<std::string>{"type public.mood altered (labels added)"});
}

}  // namespace
}  // namespace hasync::engine
