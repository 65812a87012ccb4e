// balanced_groups and part_sizes (how a batch splits into parts) and BatchLanes (running the parts
// at once, each on its own thread with its own pool).
#include "serve/batch_lanes.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

namespace kiln::serve {
namespace {

TEST(BalancedGroupsTest, SingleRowRequestsSplitEvenly) {
  EXPECT_EQ(balanced_groups(std::vector<int64_t>(8, 1), 2), (std::vector<size_t>{0, 4, 8}));
  EXPECT_EQ(balanced_groups(std::vector<int64_t>(9, 1), 3), (std::vector<size_t>{0, 3, 6, 9}));
  const std::vector<size_t> odd = balanced_groups(std::vector<int64_t>(5, 1), 2);
  ASSERT_EQ(odd.size(), 3u);
  EXPECT_TRUE(odd[1] == 2 || odd[1] == 3);
}

TEST(BalancedGroupsTest, WholeRequestsBalanceRows) {
  // 6 | 1 1: the cut nearest half of the 8 rows that keeps requests whole.
  EXPECT_EQ(balanced_groups({6, 1, 1}, 2), (std::vector<size_t>{0, 1, 3}));
  EXPECT_EQ(balanced_groups({1, 1, 6}, 2), (std::vector<size_t>{0, 2, 3}));
  EXPECT_EQ(balanced_groups({2, 2, 2, 2}, 2), (std::vector<size_t>{0, 2, 4}));
}

TEST(BalancedGroupsTest, NeverMoreGroupsThanRequestsAndNoneEmpty) {
  EXPECT_EQ(balanced_groups({4}, 2), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(balanced_groups({1, 1}, 8), (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(balanced_groups({1, 1, 1}, 1), (std::vector<size_t>{0, 3}));
  EXPECT_EQ(balanced_groups({1, 1, 1}, 0), (std::vector<size_t>{0, 3}));
  // A huge request first still leaves one request for the second group.
  EXPECT_EQ(balanced_groups({100, 1}, 2), (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(balanced_groups({}, 2), (std::vector<size_t>{0, 0}));
}

TEST(BalancedGroupsTest, PartSizesOfSingleRowBatches) {
  EXPECT_EQ(part_sizes(8, 2), (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(part_sizes(16, 4), (std::vector<int64_t>{4, 4, 4, 4}));
  EXPECT_EQ(part_sizes(1, 2), (std::vector<int64_t>{1}));
  const std::vector<int64_t> odd = part_sizes(5, 2);
  ASSERT_EQ(odd.size(), 2u);
  EXPECT_EQ(odd[0] + odd[1], 5);
}

TEST(BatchLanesTest, RunsEveryPartOnceEachOnItsOwnThreadAtTheSameTime) {
  BatchLanes lanes(3);
  ASSERT_EQ(lanes.size(), 3u);
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> arrived{0};
    std::mutex mu;
    std::set<std::thread::id> threads;
    std::vector<int> calls(3, 0);
    lanes.run(3, [&](size_t part) {
      {
        std::lock_guard<std::mutex> lock(mu);
        threads.insert(std::this_thread::get_id());
        ++calls[part];
      }
      // Every part waits for the others: this returns only if the three run at once.
      ++arrived;
      while (arrived.load() < 3) std::this_thread::yield();
    });
    EXPECT_EQ(calls, (std::vector<int>{1, 1, 1}));
    EXPECT_EQ(threads.size(), 3u);
    EXPECT_TRUE(threads.count(std::this_thread::get_id()));  // part 0 on the caller
  }
}

TEST(BatchLanesTest, FewerPartsThanLanesAndOneLane) {
  BatchLanes lanes(4);
  std::vector<int> calls(4, 0);
  lanes.run(2, [&](size_t part) { ++calls[part]; });
  EXPECT_EQ(calls, (std::vector<int>{1, 1, 0, 0}));
  lanes.run(4, [&](size_t part) { ++calls[part]; });
  EXPECT_EQ(calls, (std::vector<int>{2, 2, 1, 1}));

  BatchLanes alone(0);
  ASSERT_EQ(alone.size(), 1u);
  std::thread::id ran_on;
  alone.run(5, [&](size_t) { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(BatchLanesTest, EachLaneHasItsOwnPool) {
  BatchLanes lanes(2);
  ASSERT_NE(lanes.pool(0), nullptr);
  ASSERT_NE(lanes.pool(1), nullptr);
  EXPECT_NE(lanes.pool(0), lanes.pool(1));
}

}  // namespace
}  // namespace kiln::serve
