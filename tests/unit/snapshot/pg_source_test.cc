// The replication slot's name: one per Secondary, a valid PostgreSQL identifier, and never the
// same for two node names (b-1 and b_1 once shared a slot).
#include "snapshot/pg_source.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace hasync::snapshot {
namespace {

bool ValidSlotName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

TEST(PgSourceTest, SlotNamesAreInjectiveAndValid) {
  EXPECT_NE(PgSource::SlotName("b-1"), PgSource::SlotName("b_1"));
  EXPECT_EQ(PgSource::SlotName("mdm-b"), "hasync_mdm_b") << "the usual names keep their slots";
  std::string long_a(64, 'a'), long_b = std::string(63, 'a') + "b";
  std::set<std::string> seen;
  for (const std::string& n :
       {std::string("b-1"), std::string("b_1"), std::string("b.1"), std::string("B-1"),
        std::string("b-01"), std::string("b0-1"), std::string("mdm-b"), std::string("mdm_b"),
        std::string("MDM-B"), std::string("a-_"), std::string("a_-"), long_a, long_b,
        std::string(60, 'x') + "_", std::string(60, 'x') + "-", std::string(64, '9')}) {
    std::string slot = PgSource::SlotName(n);
    EXPECT_TRUE(ValidSlotName(slot)) << n << " -> " << slot;
    EXPECT_TRUE(seen.insert(slot).second) << n << " shares slot " << slot;
  }
}

// The status pages name each Secondary's slot by its node: the fold reads back, except a
// hashed one; temporary or foreign names are no node's.
TEST(PgSourceTest, SlotNamesReadBackToTheirNode) {
  for (const std::string& n : {std::string("mdm-b"), std::string("mdm-c"), std::string("b_1"),
                               std::string("B.1"), std::string("dr-node-9")}) {
    EXPECT_EQ(PgSource::PeerOfSlot(PgSource::SlotName(n)), n) << n;
  }
  EXPECT_EQ(PgSource::PeerOfSlot(PgSource::SlotName(std::string(64, 'a'))), std::nullopt);
  EXPECT_EQ(PgSource::PeerOfSlot("hasync_v_0z12"), std::nullopt);
  EXPECT_EQ(PgSource::PeerOfSlot("other_slot"), std::nullopt);
  EXPECT_EQ(PgSource::PeerOfSlot("hasync_"), std::nullopt);
}

}  // namespace
}  // namespace hasync::snapshot
