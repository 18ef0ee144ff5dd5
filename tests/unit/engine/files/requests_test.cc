// Request ordering and batching: largest first, batches of about the asked size, every
// request decoded back exactly once.
#include "engine/files/requests.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

TEST(RequestsTest, FilesAreRequestedLargestFirstAndOthersAreLeftOut) {
  std::vector<WireEntry> remote(4);
  remote[0].size = 10;
  remote[1].size = 300;
  remote[2].size = 10;
  remote[3].size = 5;
  std::vector<Action> actions;
  for (size_t i = 0; i < remote.size(); ++i) {
    actions.push_back(
        Action{.kind = ActionKind::kFile, .path = "f" + std::to_string(i), .remote = &remote[i]});
  }
  actions.push_back(Action{.kind = ActionKind::kMkdir, .path = "d", .remote = &remote[0]});
  auto order = RequestOrder(actions);
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[0]->path, "f1");
  EXPECT_EQ(order[1]->path, "f0");  // stable among equals
  EXPECT_EQ(order[2]->path, "f2");
  EXPECT_EQ(order[3]->path, "f3");
}

TEST(RequestsTest, BatchesFillToTheirSizeAndCarryEveryRequestOnce) {
  RequestBatcher batcher(4096);
  std::vector<std::vector<std::byte>> batches;
  for (uint32_t i = 0; i < 1000; ++i) {
    FileRequest r{
        .id = i, .root = 0, .path = "dir/file-" + std::to_string(i), .kind = RequestKind::kWhole};
    if (auto b = batcher.Add(r)) batches.push_back(std::move(*b));
  }
  if (auto b = batcher.Flush()) batches.push_back(std::move(*b));
  EXPECT_FALSE(batcher.Flush().has_value());
  ASSERT_GT(batches.size(), 2u);
  uint32_t next = 0;
  for (const auto& b : batches) {
    EXPECT_LT(b.size(), 4096u + 64);
    auto reqs = DecodeFileRequests(b);
    ASSERT_TRUE(reqs.ok()) << reqs.status().ToString();
    for (const auto& r : *reqs) {
      EXPECT_EQ(r.id, next);
      EXPECT_EQ(r.path, "dir/file-" + std::to_string(next));
      ++next;
    }
  }
  EXPECT_EQ(next, 1000u);
}

TEST(RequestsTest, NoRequestsMakeNoBatch) {
  RequestBatcher batcher;
  EXPECT_FALSE(batcher.Flush().has_value());
}

}  // namespace
}  // namespace hasync::engine
