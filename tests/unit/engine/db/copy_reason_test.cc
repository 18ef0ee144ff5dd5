// Full copy or changes: each reason for a full copy, in the words the operator reads.
#include "engine/db/copy_reason.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

constexpr char kSource[] = "7301/mdm";
constexpr char kSlot[] = "hasync_b";

DbRequest Caught(uint64_t lsn = 0x2000) {
  return DbRequest{.force_full = false, .start_lsn = lsn, .source_id = kSource};
}
snapshot::SlotState Slot(const std::string& confirmed = "0/2000") {
  return {.exists = true, .lost = false, .confirmed_flush = confirmed};
}
std::string Reason(const DbRequest& req, const snapshot::SlotState& slot = Slot()) {
  auto r = FullCopyReason(req, kSource, slot, kSlot);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : "error";
}

TEST(CopyReasonTest, SlotHoldingEverythingSinceThePositionMeansChanges) {
  EXPECT_EQ(Reason(Caught()), "");
  EXPECT_EQ(Reason(Caught(0x3000)), "") << "the slot behind the Secondary still has it all";
}

TEST(CopyReasonTest, EachReasonForAFullCopySaysWhy) {
  DbRequest forced = Caught();
  forced.force_full = true;
  EXPECT_EQ(Reason(forced), "a full copy was asked for");
  EXPECT_EQ(Reason(Caught(0)), "first sync of this database");
  DbRequest other = Caught();
  other.source_id = "9999/mdm";
  EXPECT_EQ(Reason(other),
            "the Secondary's database was last synced from another server (9999/mdm, this one "
            "is 7301/mdm)");
  EXPECT_EQ(Reason(Caught(), snapshot::SlotState{}),
            "replication slot hasync_b is missing on the Primary");
  EXPECT_EQ(Reason(Caught(), {.exists = true, .lost = true, .confirmed_flush = ""}),
            "replication slot hasync_b was invalidated: the WAL it needed was removed "
            "(max_slot_wal_keep_size)");
  EXPECT_EQ(Reason(Caught(0x1000)),
            "the Secondary's database is at 0/1000, behind the slot's 0/2000: the changes "
            "between are gone");
}

TEST(CopyReasonTest, SlotPositionIsReadOnlyWhenItDecides) {
  EXPECT_EQ(Reason(Caught(0), Slot("garbage")), "first sync of this database");
  auto r = FullCopyReason(Caught(), kSource, Slot("garbage"), kSlot);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kProtocol);
}

}  // namespace
}  // namespace hasync::engine
