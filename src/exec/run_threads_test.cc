// CoreBudget and ScopedRunThreads: concurrent runs share the cores instead of each taking all of them.
#include "exec/run_threads.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <thread>

#include "exec/thread_count_test_util.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

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

int run_team_of(int threads) {
  int seen = 0;
#pragma omp parallel num_threads(threads) reduction(+ : seen)
  seen += 1;
  return seen;
}

TEST(ReleaseTeamThreads, EndsTheCallersTeamThreads) {
  // A thread of its own, so that no earlier test's pool is in the count.
  std::thread([] {
    omp_set_dynamic(0);
    const int before = testing::process_threads();
    ASSERT_EQ(run_team_of(3), 3);
    EXPECT_EQ(testing::process_threads(), before + 2);
    release_team_threads();
    EXPECT_EQ(testing::process_threads_settled(before), before);
    EXPECT_EQ(run_team_of(3), 3);  // a new pool
    release_team_threads();
    release_team_threads();  // none left: no-op
    EXPECT_EQ(testing::process_threads_settled(before), before);
  }).join();
}

#if defined(__x86_64__)
// The team threads a run starts after a release flush denormals like the first ones did, even when a
// region outside any run (in the caller's floating-point mode) started them.
TEST(ReleaseTeamThreads, TheNextRunsTeamFlushesDenormalsAgain) {
  std::thread([] {
    omp_set_dynamic(0);
    auto every_thread_flushes = [] {
      int flushing = 0, threads = 0;
#pragma omp parallel reduction(+ : flushing, threads)
      {
        flushing += (_mm_getcsr() & 0x8040) == 0x8040 ? 1 : 0;
        threads += 1;
      }
      return flushing == threads;
    };
    {
      const ScopedRunThreads run(2);
      EXPECT_TRUE(every_thread_flushes());
    }
    release_team_threads();
    EXPECT_EQ(run_team_of(2), 2);  // new team threads, in this thread's own mode
    const ScopedRunThreads run(2);
    EXPECT_TRUE(every_thread_flushes());
  }).join();
}
#endif

}  // namespace
}  // namespace kiln
