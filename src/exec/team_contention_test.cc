// TeamContention: a run whose team the OS did not give its cores sends the next runs to one thread for a
// back-off that doubles while contention lasts. The measurements are injected: nothing here is timed.
#include "exec/team_contention.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kFirst = TeamContention::kFirstBackOffNs;
constexpr int64_t kMax = TeamContention::kMaxBackOffNs;

// A run ending at end_ns, 5 ms long, on `threads` threads, whose own thread was on a CPU for `share`
// of the time and was preempted `preemptions` times, and whose process used `process_cores` cores.
void report_run(TeamContention& c, int64_t end_ns, int threads, double share, int preemptions,
                double process_cores = 1.0) {
  constexpr int64_t wall = 5 * kMs;
  const TeamContention::Usage start{0, 10, 0};
  const TeamContention::Usage end{static_cast<int64_t>(share * wall), 10 + preemptions,
                                  static_cast<int64_t>(process_cores * wall)};
  c.report(threads, end_ns - wall, end_ns, start, end);
}

TEST(TeamContention, AFullyScheduledTeamKeepsItsThreads) {
  TeamContention c(true, 2);
  report_run(c, 10 * kMs, 2, 0.98, 3);  // preempted, but the team got its cores
  EXPECT_TRUE(c.team_allowed(10 * kMs));
}

TEST(TeamContention, ASleepingOrRarelyPreemptedTeamIsNotContended) {
  TeamContention c(true, 2);
  report_run(c, 10 * kMs, 2, 0.55, 0);  // the master slept at a barrier
  EXPECT_TRUE(c.team_allowed(10 * kMs));
  c.report(2, 0, 100 * kMs, {0, 0}, {100 * kMs, 1});  // one preemption in 100 ms: a kernel thread, say
  EXPECT_TRUE(c.team_allowed(100 * kMs));
}

// Enough contended runs in a row to back off, the last ending at end_ns.
void report_contended_streak(TeamContention& c, int64_t end_ns, double process_cores = 1.0) {
  for (int i = TeamContention::kContendedOfRecent - 1; i >= 0; --i) {
    report_run(c, end_ns - i * 5 * kMs, 2, 0.5, 4, process_cores);
  }
}

TEST(TeamContention, ASingleContendedRunAmongFreeOnesKeepsTheTeam) {
  TeamContention c(true, 2);
  int64_t t = 100 * kMs;
  for (int i = 0; i < 10; ++i) {
    report_run(c, t += 5 * kMs, 2, 0.5, 4);  // a neighbour on the host took the core once
    EXPECT_TRUE(c.team_allowed(t));
    for (int free = 0; free < TeamContention::kRecentRuns; ++free) report_run(c, t += 5 * kMs, 2, 1.0, 0);
  }
  // Every other run contended, as under two busy processes on the two cores: back off.
  report_run(c, t += 5 * kMs, 2, 0.5, 4);
  report_run(c, t += 5 * kMs, 2, 1.0, 0);
  report_run(c, t += 5 * kMs, 2, 0.5, 4);
  EXPECT_FALSE(c.team_allowed(t));
}

TEST(TeamContention, AContendedRunSendsTheNextRunsToOneThreadThenProbes) {
  TeamContention c(true, 2);
  const int64_t t = 100 * kMs;
  report_contended_streak(c, t);
  EXPECT_FALSE(c.team_allowed(t));
  EXPECT_FALSE(c.team_allowed(t + kFirst - 1));
  EXPECT_TRUE(c.team_allowed(t + kFirst));
}

TEST(TeamContention, TheBackOffDoublesWhileContentionLastsUpToTheCapAndResetsAfter) {
  TeamContention c(true, 2);
  int64_t t = 100 * kMs;
  report_contended_streak(c, t);
  t += kFirst;
  report_run(c, t, 2, 0.5, 4);  // the probe is contended too: back off again at once
  EXPECT_FALSE(c.team_allowed(t + 2 * kFirst - 1));
  EXPECT_TRUE(c.team_allowed(t + 2 * kFirst));
  for (int i = 0; i < 20; ++i) report_run(c, t += kMax, 2, 0.5, 4);
  EXPECT_FALSE(c.team_allowed(t + kMax - 1));
  EXPECT_TRUE(c.team_allowed(t + kMax));
  // Free cores again, long enough to forget the contended runs: the next contention backs off kFirst.
  for (int i = 0; i < TeamContention::kRecentRuns; ++i) report_run(c, t += kMax, 2, 1.0, 0);
  report_contended_streak(c, t += 20 * kMs);
  EXPECT_FALSE(c.team_allowed(t + kFirst - 1));
  EXPECT_TRUE(c.team_allowed(t + kFirst));
}

TEST(TeamContention, TheProcessesOwnThreadsAreNotContention) {
  TeamContention c(true, 2);
  // The master got half its time, but the process used 1.8 of its 2 cores: its own I/O threads ran.
  report_run(c, 100 * kMs, 2, 0.5, 4, 1.8);
  EXPECT_TRUE(c.team_allowed(100 * kMs));
  // The same run with the process on 1.2 cores: other processes had the rest.
  report_contended_streak(c, 110 * kMs, 1.2);
  EXPECT_FALSE(c.team_allowed(110 * kMs));
  // On 16 cores a 2-thread team and its process cannot fill the machine: the master's share decides.
  TeamContention many(true, 16);
  report_contended_streak(many, 100 * kMs, 1.8);
  EXPECT_FALSE(many.team_allowed(100 * kMs));
}

TEST(TeamContention, OneThreadShortRunsAndADisabledTrackerSayNothing) {
  TeamContention c(true, 2);
  report_run(c, 100 * kMs, 1, 0.1, 4);
  c.report(2, 0, TeamContention::kMinJudgedRunNs - 1, {0, 0}, {0, 5});
  EXPECT_TRUE(c.team_allowed(100 * kMs));
  TeamContention off(false, 2);
  report_run(off, 100 * kMs, 2, 0.1, 4);
  EXPECT_TRUE(off.team_allowed(100 * kMs));
}

TEST(TeamContention, UsageCountsThisThreadsCpuTime) {
  const TeamContention::Usage a = TeamContention::usage_now();
  volatile double x = 0;
  for (int i = 0; i < 2'000'000; ++i) x = x + i;
  const TeamContention::Usage b = TeamContention::usage_now();
  EXPECT_GT(b.cpu_ns, 0);
  EXPECT_GE(b.cpu_ns, a.cpu_ns);
  EXPECT_GE(b.preemptions, a.preemptions);
}

}  // namespace
}  // namespace kiln
