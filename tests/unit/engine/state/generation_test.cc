// The split-brain rule (DESIGN.md invariant 8) on hand-built lineages.
#include "engine/state/generation.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

TEST(GenerationTest, AFollowerOfTheSameOrANewerGenerationMaySync) {
  Lineage a1 = StartGeneration({}, "mdm-a", 1000);
  EXPECT_EQ(CompareGenerations({}, a1), GenerationVerdict::kEmpty);
  EXPECT_EQ(CompareGenerations(a1, a1), GenerationVerdict::kSame);
  Lineage b2 = StartGeneration(a1, "mdm-b", 2000);  // mdm-b promoted from a1's data
  EXPECT_EQ(b2.back().number, 2u);
  EXPECT_EQ(CompareGenerations(a1, b2), GenerationVerdict::kNewer);
  auto ok = CheckGeneration(a1, b2, "mdm-a", "mdm-b", false);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->empty());
}

TEST(GenerationTest, AnOlderSourceIsRefusedNamingBothGenerations) {
  Lineage a1 = StartGeneration({}, "mdm-a", 1000);
  Lineage b2 = StartGeneration(a1, "mdm-b", 2000);
  EXPECT_EQ(CompareGenerations(b2, a1), GenerationVerdict::kOlder);
  auto r = CheckGeneration(b2, a1, "mdm-b", "mdm-a", false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kGeneration);
  EXPECT_NE(r.status().message().find("generation 1 (mdm-a"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("generation 2 (mdm-b"), std::string::npos);
  EXPECT_NE(r.status().message().find("--force"), std::string::npos);
}

TEST(GenerationTest, TwoPromotionsFromOneAncestorAreSplitBrainEachWay) {
  Lineage a1 = StartGeneration({}, "mdm-a", 1000);
  Lineage a2 = StartGeneration(a1, "mdm-a", 3000);  // the same number 2 on both sides
  Lineage b2 = StartGeneration(a1, "mdm-b", 2000);
  EXPECT_NE(a2.back().id, b2.back().id);
  EXPECT_EQ(CompareGenerations(a2, b2), GenerationVerdict::kDiverged);
  EXPECT_EQ(CompareGenerations(b2, a2), GenerationVerdict::kDiverged);
  auto r = CheckGeneration(b2, a2, "mdm-b", "mdm-a", false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("split brain"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("diverged after generation 1"), std::string::npos);
  // --force: allowed, with the same explanation as a warning.
  auto forced = CheckGeneration(b2, a2, "mdm-b", "mdm-a", true);
  ASSERT_TRUE(forced.ok());
  EXPECT_NE(forced->find("split brain"), std::string::npos);
  // Nothing in common at all (two nodes each set up as Primary).
  Lineage other = StartGeneration({}, "mdm-c", 1000);
  EXPECT_EQ(CompareGenerations(other, a1), GenerationVerdict::kDiverged);
  // A node with data must not take an empty source's word for it either.
  EXPECT_EQ(CompareGenerations(a1, {}), GenerationVerdict::kDiverged);
}

TEST(GenerationTest, LineageIsCappedAndRoundTripsThroughJson) {
  Lineage l;
  for (int i = 0; i < 70; ++i) l = StartGeneration(l, "n" + std::to_string(i), i);
  EXPECT_EQ(l.size(), kMaxLineage);
  EXPECT_EQ(l.back().number, 70u);
  auto back = LineageFromJson(LineageToJson(l));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, l);
  for (const char* bad : {"", "{}", "[1]", "[{\"id\":1,\"number\":1,\"node\":\"a\",\"at_ms\":0}]",
                          "[{\"id\":\"x\",\"number\":1,\"node\":\"a\",\"at_ms\":0}]"}) {
    EXPECT_FALSE(LineageFromJson(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace hasync::engine
