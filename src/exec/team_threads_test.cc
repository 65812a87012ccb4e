// release_team_threads: the team threads a thread's parallel region started end, and the next region
// works as before.
#include "exec/team_threads.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace kiln {
namespace {

int process_threads() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// The thread count once it is `expected`, or after a second: a released team thread leaves the task
// list when it has exited, just after release_team_threads returns.
int process_threads_settled(int expected) {
  for (int i = 0; i < 1000 && process_threads() != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return process_threads();
}

int run_team_of(int threads) {
  int seen = 0;
#pragma omp parallel num_threads(threads) reduction(+ : seen)
  seen += 1;
  return seen;
}

TEST(TeamThreads, ReleasingEndsTheCallersTeamThreads) {
  // A thread of its own, so that no earlier test's pool is in the count.
  std::thread([] {
    omp_set_dynamic(0);
    const int before = process_threads();
    ASSERT_EQ(run_team_of(3), 3);
    EXPECT_EQ(process_threads(), before + 2);
    release_team_threads();
    EXPECT_EQ(process_threads_settled(before), before);
    EXPECT_EQ(run_team_of(3), 3);  // a new pool
    release_team_threads();
    release_team_threads();  // none left: no-op
    EXPECT_EQ(process_threads_settled(before), before);
  }).join();
}

TEST(TeamThreads, InsideARegionItDoesNothing) {
  int released = 0;
#pragma omp parallel num_threads(2) reduction(+ : released)
  {
    release_team_threads();
    released += 1;
  }
  EXPECT_EQ(released, 2);
}

}  // namespace
}  // namespace kiln
