#include "exec/team_contention.h"

#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace kiln {

TeamContention::Usage TeamContention::usage_now() {
  const auto ns = [](const timeval& t) { return int64_t{t.tv_sec} * 1'000'000'000 + int64_t{t.tv_usec} * 1'000; };
  rusage thread{};
  rusage process{};
  if (getrusage(RUSAGE_THREAD, &thread) != 0 || getrusage(RUSAGE_SELF, &process) != 0) return {};
  return Usage{ns(thread.ru_utime) + ns(thread.ru_stime), int64_t{thread.ru_nivcsw},
               ns(process.ru_utime) + ns(process.ru_stime)};
}

int TeamContention::usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

int64_t TeamContention::now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

TeamContention& TeamContention::process() {
  static TeamContention* contention = [] {
    const char* env = std::getenv("KILN_TEAM_BACKOFF");
    return new TeamContention(env == nullptr || std::strcmp(env, "0") != 0);
  }();  // never destroyed: runs may outlive statics
  return *contention;
}

void TeamContention::report(int threads, int64_t start_ns, int64_t end_ns, const Usage& start, const Usage& end) {
  const int64_t wall = end_ns - start_ns;
  if (!enabled_ || threads <= 1 || wall < kMinJudgedRunNs) return;
  const double share = static_cast<double>(end.cpu_ns - start.cpu_ns) / static_cast<double>(wall);
  const int64_t preemptions = end.preemptions - start.preemptions;
  const bool preempted = preemptions > 0 && preemptions * kPreemptedEveryNs >= wall;
  // The process's own threads kept the cores busy: the master lost its core to them, not to others.
  const double process_share =
      static_cast<double>(end.process_cpu_ns - start.process_cpu_ns) / (static_cast<double>(wall) * cores_);
  const bool contended = share < kContendedShare && preempted && process_share < kContendedShare;
  // The last kRecentRuns judgements, newest in bit 0.
  const unsigned recent =
      ((recent_.load(std::memory_order_relaxed) << 1) | (contended ? 1u : 0u)) & ((1u << kRecentRuns) - 1);
  recent_.store(recent, std::memory_order_relaxed);
  if (!contended) {
    back_off_ns_.store(kFirstBackOffNs, std::memory_order_relaxed);
    return;
  }
  const bool probing = back_off_ns_.load(std::memory_order_relaxed) > kFirstBackOffNs;
  if (std::popcount(recent) < kContendedOfRecent && !probing) return;  // a lone preempted run: not yet
  // Contended: one thread for the current back-off, and twice as long after the next contended probe.
  const int64_t back_off = back_off_ns_.load(std::memory_order_relaxed);
  single_until_ns_.store(end_ns + back_off, std::memory_order_relaxed);
  back_off_ns_.store(std::min(back_off * 2, kMaxBackOffNs), std::memory_order_relaxed);
}

}  // namespace kiln
