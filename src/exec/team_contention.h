// Whether the operating system actually gives a run's OpenMP team its cores, and what to do when it
// does not: run on one thread for a while.
//
// oneDNN splits each kernel statically between the team's threads, and libgomp's threads spin while
// they wait for each other (OMP_WAIT_POLICY unset: ~300,000 pause loops, several ms). When other
// processes keep the cores busy, a team member is often descheduled, both threads may share one core,
// and every parallel region waits out the spinner's time slice. Measured on 2 shared cores at load ~10
// (mobilenet_v2, batch 1, median of 200): 2 threads 12-97 ms with p90 up to 900 ms, 1 thread 5-15 ms.
// On free cores the spinning team is what makes 2 threads fast (best 2.5 ms against 4.3 on one), and
// a passive wait policy would cost futex wake-ups at every region (best 4.9 ms), so the policy stays
// and the team shrinks instead, only while the cores are contended.
//
// The signal: over a run with a team, the run's own thread (the team's master, which works or spins
// throughout) was on a CPU for less than kContendedShare of the wall time *and* was preempted
// (involuntary context switches) at least once per kPreemptedEveryNs. On free cores the master runs
// ~100% of the run, creating primitives included; a master that sleeps at a barrier is not preempted.
// Once kContendedOfRecent of the last kRecentRuns judged runs were contended, the next runs use one thread for a back-off that
// doubles while contention persists (kFirstBackOffNs .. kMaxBackOffNs); then one run probes with the
// full team again, and a contended probe backs off again at once. A run that got its CPU resets the
// back-off. The count over recent runs is there because a shared host (a VM whose neighbours steal time now and then) preempts
// single runs on otherwise free cores: at load ~1.4, mobilenet_v2 at 2 threads, batch 1 measured a
// median of 2.6-3.5 ms with every such run backing off, 2.0-2.1 ms with the back-off off or judged over
// recent runs. Under real contention (two busy processes on the two cores) about every other run is
// contended, which this still catches: 4.3 ms median backing off vs 7-101 ms with the team kept.
//
// Only other processes count: if this process as a whole was on kContendedShare of the cores it may
// use (its CPU affinity) during the run, the master lost its core to the process's own threads, such as
// a server's I/O threads reading the next requests. Shrinking the team would not give that time back,
// it would only halve the compute: resnet18 over HTTP (kiln serve --threads 2 on 2 cores) answered
// 54-86 requests/s with such runs judged contended, 87-90 without.
//
// Thread-safe, lock-free. Process-wide state (process()), since the cores are. Turned off by setting
// KILN_TEAM_BACKOFF=0 in the environment.
#pragma once

#include <atomic>
#include <cstdint>

namespace kiln {

class TeamContention {
 public:
  // The calling thread's CPU time and involuntary context switches so far (getrusage(RUSAGE_THREAD)),
  // and the CPU time of the whole process (RUSAGE_SELF: every thread, the team's included).
  struct Usage {
    int64_t cpu_ns = 0;
    int64_t preemptions = 0;
    int64_t process_cpu_ns = 0;
  };
  static Usage usage_now();
  // The number of CPUs this process may run on (sched_getaffinity), at least 1.
  static int usable_cores();
  // steady_clock now, in ns.
  static int64_t now_ns();

  static constexpr double kContendedShare = 0.75;
  // Preempted at least once per this much wall time. Contended runs measured 1 per 2-12 ms; a run on
  // free cores sees one now and then (kernel threads), which must not count.
  static constexpr int64_t kPreemptedEveryNs = 20'000'000;
  // A probe on contended cores costs far more than the run itself (a 3 ms mobilenet_v2 run measured
  // 100-500 ms: both threads often share one core, and each region waits out the spinner's time
  // slice), so probes are rare: after 200 ms, then 400 ms ... at most every 5 s (<= ~10% of the time).
  static constexpr int64_t kFirstBackOffNs = 200'000'000;
  static constexpr int64_t kMaxBackOffNs = 5'000'000'000;
  static constexpr int64_t kMinJudgedRunNs = 200'000;
  static constexpr int kRecentRuns = 4;
  static constexpr int kContendedOfRecent = 2;  // shorter runs: too few scheduler ticks to judge

  // The process-wide instance; disabled when KILN_TEAM_BACKOFF=0.
  static TeamContention& process();

  // `cores`: the CPUs the process may use, the capacity its own CPU time is compared with.
  explicit TeamContention(bool enabled = true, int cores = usable_cores()) : enabled_(enabled), cores_(cores) {}

  // Whether a run starting at now_ns may use a team of more than one thread.
  bool team_allowed(int64_t now_ns) const {
    return !enabled_ || now_ns >= single_until_ns_.load(std::memory_order_relaxed);
  }

  // A run that held a team of `threads` (> 1) from start to end, with the usage of its own thread and
  // process: judges whether other processes contended for its cores and sets the back-off. Runs with
  // one thread or shorter than kMinJudgedRunNs say nothing.
  void report(int threads, int64_t start_ns, int64_t end_ns, const Usage& start, const Usage& end);

  // Forgets any back-off (tests).
  void reset() {
    single_until_ns_.store(0, std::memory_order_relaxed);
    back_off_ns_.store(kFirstBackOffNs, std::memory_order_relaxed);
    recent_.store(0, std::memory_order_relaxed);
  }

 private:
  const bool enabled_;
  const int cores_;
  std::atomic<int64_t> single_until_ns_{0};
  std::atomic<int64_t> back_off_ns_{kFirstBackOffNs};
  std::atomic<unsigned> recent_{0};  // the last kRecentRuns judgements, 1 = contended
};

}  // namespace kiln
