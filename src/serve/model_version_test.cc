// intra_op_threads_for: how the thread budget is split between a version's instances.
#include "serve/model_version.h"

#include <gtest/gtest.h>

namespace kiln::serve {
namespace {

TEST(IntraOpThreadsForTest, SplitsTheBudgetAmongInstances) {
  SchedulerOptions o;
  o.budget = std::make_shared<ComputeBudget>(8);
  EXPECT_EQ(intra_op_threads_for(o, 1), 8);  // one instance computes on every budgeted core
  EXPECT_EQ(intra_op_threads_for(o, 2), 4);
  EXPECT_EQ(intra_op_threads_for(o, 3), 2);  // rounded down: never more than the budget together
  EXPECT_EQ(intra_op_threads_for(o, 16), 1);
}

TEST(IntraOpThreadsForTest, ExplicitCountIsCappedByTheBudget) {
  SchedulerOptions o;
  o.budget = std::make_shared<ComputeBudget>(4);
  o.intra_op_threads = 2;
  EXPECT_EQ(intra_op_threads_for(o, 1), 2);
  o.intra_op_threads = 64;
  EXPECT_EQ(intra_op_threads_for(o, 1), 4);
}

TEST(IntraOpThreadsForTest, WithoutABudgetAllCores) {
  SchedulerOptions o;
  EXPECT_EQ(intra_op_threads_for(o, 2), 0);
  o.intra_op_threads = 3;
  EXPECT_EQ(intra_op_threads_for(o, 2), 3);
}

}  // namespace
}  // namespace kiln::serve
