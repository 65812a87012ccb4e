// CoreBudget and ScopedRunThreads: concurrent runs share the cores instead of each taking all of them.
#include "exec/run_threads.h"

#include <gtest/gtest.h>

#include <atomic>

namespace kiln {
namespace {

TEST(CoreBudget, GrantsWhatIsLeftButAtLeastOne) {
  CoreBudget budget(8);
  const int a = budget.acquire(6);
  const int b = budget.acquire(6);
  const int c = budget.acquire(6);
  EXPECT_EQ(a, 6);
  EXPECT_EQ(b, 2);
  EXPECT_EQ(c, 1);  // a run's own thread runs whatever happens
  EXPECT_EQ(budget.in_use(), 9);
  budget.release(a);
  EXPECT_EQ(budget.acquire(8), 5);  // what b and c leave
  budget.release(b);
  budget.release(c);
  EXPECT_EQ(budget.in_use(), 5);
}

TEST(CoreBudget, ARunGivesThreadsBackWhenAnotherStartsAndTakesThemAgainAfter) {
  CoreBudget budget(4);
  int a = budget.acquire(4);
  const int b = budget.acquire(4);  // starts while a holds every core
  EXPECT_EQ(a, 4);
  EXPECT_EQ(b, 1);
  a = budget.rebalance(a, 4);  // a's next node
  EXPECT_EQ(a, 3);
  EXPECT_EQ(budget.in_use(), 4);
  EXPECT_EQ(budget.rebalance(b, 4), 1);  // nothing free for b
  budget.release(b);
  a = budget.rebalance(a, 4);
  EXPECT_EQ(a, 4);
  EXPECT_EQ(budget.in_use(), 4);
  EXPECT_EQ(budget.rebalance(a, 4), 4);  // steady: no change
}

TEST(ScopedRunThreads, NestedRunsSplitTheProcessBudget) {
  const int cores = CoreBudget::process().cores();
  TeamContention::process().reset();  // runs of earlier tests on busy cores may have sent teams to one thread
  const ScopedRunThreads outer(0);
  EXPECT_EQ(outer.threads(), cores);
  {
    // A second run while the first holds every core (as from another thread) gets its own thread only.
    const ScopedRunThreads inner(0);
    EXPECT_EQ(inner.threads(), 1);
  }
  EXPECT_EQ(CoreBudget::process().in_use(), cores);
}

TEST(ScopedRunThreads, OnBusyCoresLongRunsDropToOneThreadAndShortRunsKeepTheTeam) {
  const int cores = CoreBudget::process().cores();
  if (cores < 2) GTEST_SKIP() << "one core: every team is one thread";
  TeamContention& contention = TeamContention::process();
  contention.reset();
  const int64_t now = TeamContention::now_ns();
  for (int i = 0; i < TeamContention::kContendedOfRecent; ++i) {  // 20% of a 10 ms run, preempted
    contention.report(2, now - 10'000'000, now, {0, 0}, {2'000'000, 5});
  }
  std::atomic<int64_t> long_runs{10'000'000};
  std::atomic<int64_t> short_runs{50'000};
  {
    const ScopedRunThreads run(0, &long_runs);
    EXPECT_EQ(run.threads(), 1);
  }
  {
    const ScopedRunThreads run(0, &short_runs);
    EXPECT_EQ(run.threads(), cores);
  }
  contention.reset();
  const ScopedRunThreads run(0, &long_runs);
  EXPECT_EQ(run.threads(), cores);
}

}  // namespace
}  // namespace kiln
