// The threading environment of one Session::run: the intra-op thread count of the OpenMP team that
// oneDNN's kernels use, and denormals flushed to zero (MXCSR FTZ and DAZ) on the calling thread and
// on every worker of its team. Denormal arithmetic is up to ~100x slower on x86, and trained weights
// and decaying activations produce denormals; flushing them changes results by less than 1e-38.
//
// Scoped: the constructor sets both for the calling thread, the destructor restores the caller's
// thread count and MXCSR, so a program embedding kiln keeps its own floating-point mode. Workers keep
// FTZ/DAZ (they only run OpenMP work). Not copyable; use on one thread.
//
// Concurrent runs share the cores: each run's team comes out of the process's CoreBudget, so several
// Session::run calls at once (server instances, a caller's own threads) do not each start a team of
// every core and oversubscribe the machine ~N-fold.
#pragma once

#include <atomic>
#include <cstdint>

#include "exec/team_contention.h"

namespace kiln {

// Cores shared by the runs of the process. A run asks for `want` threads and is granted what the runs
// already going leave free, but at least 1: its calling thread exists either way. A run that started
// while cores were free gives threads back at its next node when later runs need them (rebalance), and
// takes them again when they are free; so between nodes the threads of all runs together stay within
// the cores, or within one per run when there are more runs than cores. Thread-safe and lock-free.
class CoreBudget {
 public:
  explicit CoreBudget(int cores) : cores_(cores < 1 ? 1 : cores) {}
  // The process-wide budget: every core OpenMP sees.
  static CoreBudget& process();
  // Grants between 1 and max(1, want) threads; give them back with release().
  int acquire(int want);
  // A run holding `granted` of the `want` threads it asked for, between two parallel regions: returns
  // its new grant, smaller while the runs together hold more than the cores (never below 1), larger
  // (up to want) while cores are free. What it gives up or takes is accounted here.
  int rebalance(int granted, int want);
  void release(int granted) { in_use_.fetch_sub(granted, std::memory_order_acq_rel); }
  int in_use() const { return in_use_.load(std::memory_order_acquire); }
  int cores() const { return cores_; }

 private:
  const int cores_;
  std::atomic<int> in_use_{0};
};

class ScopedRunThreads;

// One part of a run cut by rows (row_parts.h), on a thread of that run's team: OpenMP regions and
// oneDNN primitives inside it see a team of one (the ShapeCache keys on it), and the run's team
// rebalancing stays with the run's own scope. Restores the thread's settings when it ends.
class ScopedSerialPart {
 public:
  ScopedSerialPart();
  ~ScopedSerialPart();
  ScopedSerialPart(const ScopedSerialPart&) = delete;
  ScopedSerialPart& operator=(const ScopedSerialPart&) = delete;

 private:
  int saved_threads_;
  ScopedRunThreads* saved_current_;
};

class ScopedRunThreads {
 public:
  // threads <= 0: all cores (OpenMP's default). The team is that many threads, or fewer while other
  // runs hold part of CoreBudget::process(), or one while other processes keep the cores busy
  // (TeamContention::process(), judged from the runs before; this run's team is judged at its end).
  //
  // last_run_ns (optional, the caller's record of its previous run's wall time, updated by this run):
  // a run whose predecessor took less than TeamContention::kMinJudgedRunNs keeps its team despite a
  // back-off. Short runs are rarely caught by a descheduled partner, and cannot be judged themselves
  // (mlp on busy cores: 0.05 ms on 2 spinning threads, 0.08 ms on one).
  explicit ScopedRunThreads(int threads, std::atomic<int64_t>* last_run_ns = nullptr);
  ~ScopedRunThreads();
  ScopedRunThreads(const ScopedRunThreads&) = delete;
  ScopedRunThreads& operator=(const ScopedRunThreads&) = delete;

  // The team size this run was granted (1 inside a caller's parallel region).
  int threads() const { return granted_ > 0 ? granted_ : 1; }

  // Called by the executor between nodes: adjusts the calling thread's current run's team to what
  // concurrent runs leave (CoreBudget::rebalance). Costs one atomic load when nothing changes; no-op
  // outside a run.
  static void rebalance_current();

 private:
  int saved_threads_ = 0;
  unsigned saved_csr_ = 0;
  bool set_threads_ = false;
  int granted_ = 0;
  int want_ = 0;
  ScopedRunThreads* saved_current_ = nullptr;
  bool team_changed_ = false;  // rebalanced mid-run: the team's share cannot be judged
  int64_t start_ns_ = 0;
  std::atomic<int64_t>* last_run_ns_ = nullptr;
  TeamContention::Usage start_usage_;
};

// The number of threads an intra-op count of `threads` means (all cores for <= 0).
int effective_threads(int threads);

// Giving back the OpenMP team threads a thread keeps after leading a run on a team.
//
// libgomp keeps a pool of team threads for every thread that has led a parallel region, for that
// thread's lifetime, and counts the pooled threads of the whole process. While they outnumber the
// cores it cuts the spin of every waiting team thread from ~300,000 pause loops to 100: a thread that
// reaches a barrier first then sleeps on a futex and has to be woken, at each of the hundreds of
// parallel regions of a run. A server leads teams from several threads (the one that loaded a model
// and warmed it up, each batcher worker), so one idle pool was enough to put it past 2 cores: resnet18
// over HTTP (kiln serve --threads 2, concurrency 16) switched context 80 times per request and
// answered 81-83 requests/s; with the loading thread's pool given back, 10 times and 87-89.
//
// Ends the calling thread's pool of OpenMP team threads (omp_pause_resource_all, soft: with libgomp it
// frees only the caller's pool), so they no longer count against the cores; its next parallel region
// starts new ones, which flush denormals again at the next run. No-op inside a parallel region
// (serialized ones included) and for a thread that has none. LLVM's libomp pauses the whole runtime
// instead: kiln calls this only from the server, which it builds with GCC's libgomp.
void release_team_threads();

}  // namespace kiln
