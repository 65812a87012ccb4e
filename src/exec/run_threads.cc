#include "exec/run_threads.h"

#include <omp.h>

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define KILN_HAS_MXCSR 1
#endif

namespace kiln {
namespace {

#ifdef KILN_HAS_MXCSR
constexpr unsigned kFtzDaz = 0x8040;  // MXCSR bit 15 flush-to-zero, bit 6 denormals-are-zero
#endif

void set_ftz_daz() {
#ifdef KILN_HAS_MXCSR
  _mm_setcsr(_mm_getcsr() | kFtzDaz);
#endif
}

// The largest team this thread has already switched to FTZ/DAZ. libgomp keeps a team's workers alive
// between parallel regions of the same master thread, so this is done once per master and size,
// not per run (and again after release_team_threads ends them).
thread_local int ftz_team_size = 0;

void ensure_workers_flush_denormals(int threads) {
  if (threads <= ftz_team_size || omp_in_parallel()) return;
#pragma omp parallel num_threads(threads)
  set_ftz_daz();
  ftz_team_size = threads;
}

}  // namespace

int effective_threads(int threads) { return threads > 0 ? threads : omp_get_num_procs(); }

void release_team_threads() {
  if (omp_get_level() > 0) return;
  // Fails (-1) only inside a region, excluded above; nothing to report either way.
  (void)omp_pause_resource_all(omp_pause_soft);
  ftz_team_size = 0;  // the team threads it switched are gone
}

CoreBudget& CoreBudget::process() {
  static CoreBudget* budget = new CoreBudget(omp_get_num_procs());  // never destroyed: runs may outlive statics
  return *budget;
}

int CoreBudget::acquire(int want) {
  if (want < 1) want = 1;
  int used = in_use_.load(std::memory_order_acquire);
  int grant = 1;
  do {
    const int free = cores_ - used;
    grant = free < want ? (free > 1 ? free : 1) : want;
  } while (!in_use_.compare_exchange_weak(used, used + grant, std::memory_order_acq_rel, std::memory_order_acquire));
  return grant;
}

int CoreBudget::rebalance(int granted, int want) {
  int used = in_use_.load(std::memory_order_acquire);
  if (used > cores_ && granted > 1) {
    const int give = std::min(granted - 1, used - cores_);
    in_use_.fetch_sub(give, std::memory_order_acq_rel);
    return granted - give;
  }
  while (used < cores_ && granted < want) {
    const int take = std::min(want - granted, cores_ - used);
    if (in_use_.compare_exchange_weak(used, used + take, std::memory_order_acq_rel, std::memory_order_acquire)) {
      return granted + take;
    }
  }
  return granted;
}

namespace {
// The run on this thread whose team rebalance_current() adjusts.
thread_local ScopedRunThreads* current_run = nullptr;
}  // namespace

ScopedSerialPart::ScopedSerialPart() : saved_threads_(omp_get_max_threads()), saved_current_(current_run) {
  omp_set_num_threads(1);
  current_run = nullptr;
  set_ftz_daz();
}

ScopedSerialPart::~ScopedSerialPart() {
  omp_set_num_threads(saved_threads_);
  current_run = saved_current_;
}

void ScopedRunThreads::rebalance_current() {
  ScopedRunThreads* run = current_run;
  if (run == nullptr || !run->set_threads_) return;
  const int n = CoreBudget::process().rebalance(run->granted_, run->want_);
  if (n == run->granted_) return;
  run->granted_ = n;
  run->team_changed_ = true;
  omp_set_num_threads(n);
  ensure_workers_flush_denormals(n);
}

ScopedRunThreads::ScopedRunThreads(int threads, std::atomic<int64_t>* last_run_ns)
    : start_ns_(TeamContention::now_ns()), last_run_ns_(last_run_ns) {
#ifdef KILN_HAS_MXCSR
  saved_csr_ = _mm_getcsr();
#endif
  set_ftz_daz();
  // Inside a caller's parallel region oneDNN's regions would nest; OpenMP serializes them (nesting
  // is off by default), so the count is left alone there.
  if (omp_in_parallel()) return;
  saved_threads_ = omp_get_max_threads();
  want_ = effective_threads(threads);
  const bool short_runs =
      last_run_ns != nullptr && last_run_ns->load(std::memory_order_relaxed) < TeamContention::kMinJudgedRunNs;
  if (want_ > 1 && !short_runs && !TeamContention::process().team_allowed(start_ns_)) {
    want_ = 1;  // the OS is not giving the team its cores
  }
  granted_ = CoreBudget::process().acquire(want_);
  saved_current_ = current_run;
  current_run = this;
  const int n = granted_;
  omp_set_num_threads(n);
  set_threads_ = true;
  ensure_workers_flush_denormals(n);
  if (n > 1) start_usage_ = TeamContention::usage_now();
}

ScopedRunThreads::~ScopedRunThreads() {
  if (set_threads_) {
    const int64_t end_ns = TeamContention::now_ns();
    if (last_run_ns_ != nullptr) last_run_ns_->store(end_ns - start_ns_, std::memory_order_relaxed);
    if (granted_ > 1 && !team_changed_) {
      TeamContention::process().report(granted_, start_ns_, end_ns, start_usage_, TeamContention::usage_now());
    }
    omp_set_num_threads(saved_threads_);
    CoreBudget::process().release(granted_);
    current_run = saved_current_;
  }
#ifdef KILN_HAS_MXCSR
  _mm_setcsr(saved_csr_);
#endif
}

}  // namespace kiln
