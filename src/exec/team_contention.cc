#include "exec/team_contention.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace kiln {

TeamContention::Usage TeamContention::usage_now() {
  rusage ru{};
  if (getrusage(RUSAGE_THREAD, &ru) != 0) return {};
  const auto ns = [](const timeval& t) { return int64_t{t.tv_sec} * 1'000'000'000 + int64_t{t.tv_usec} * 1'000; };
  return Usage{ns(ru.ru_utime) + ns(ru.ru_stime), int64_t{ru.ru_nivcsw}};
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
  if (share >= kContendedShare || !preempted) {
    back_off_ns_.store(kFirstBackOffNs, std::memory_order_relaxed);
    return;
  }
  // Contended: one thread for the current back-off, and twice as long after the next contended probe.
  const int64_t back_off = back_off_ns_.load(std::memory_order_relaxed);
  single_until_ns_.store(end_ns + back_off, std::memory_order_relaxed);
  back_off_ns_.store(std::min(back_off * 2, kMaxBackOffNs), std::memory_order_relaxed);
}

}  // namespace kiln
