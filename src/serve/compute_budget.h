// ComputeBudget: the process-wide count of compute threads, shared by every model run.
//
// A model run computes on an OpenMP team of its session's intra-op threads (the calling worker is
// one of them), so a run asks the budget for that many threads for the duration of Session::run.
// However many models and instances are loaded, the threads computing at once never exceed the
// budget, which `kiln serve` sets to --threads (the cores it may use): oversubscribed cores are what
// make latency explode when several models share a machine.
//
// Runs are admitted in the order they ask: a run that needs many threads waits for them to free up,
// and runs asking later (even for one thread) queue behind it, so a large run is never starved.
// Thread-safe.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>  // also std::try_to_lock_t

namespace kiln::serve {

class ComputeBudget {
 public:
  // `threads` < 1 counts as 1.
  explicit ComputeBudget(int threads) : total_(std::max(1, threads)), free_(total_) {}

  int total() const { return total_; }
  // The most threads ever held at once; never more than total(). For tests and the banner.
  int peak() const {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_;
  }

  // Requests waiting to be admitted.
  int waiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(next_ticket_ - serving_);
  }

  // Holds `threads` threads of the budget while alive (a request above total() holds all of them).
  // A null budget holds nothing.
  class Slot {
   public:
    Slot(ComputeBudget* budget, int threads)
        : budget_(budget), threads_(budget != nullptr ? std::clamp(threads, 1, budget->total_) : 0) {
      if (budget_ != nullptr) budget_->acquire(threads_);
    }
    // Holds the threads only if they are free now and no earlier request waits for them (as
    // std::unique_lock with std::try_to_lock): for a caller that has something better to do than wait.
    Slot(ComputeBudget* budget, int threads, std::try_to_lock_t)
        : budget_(budget), threads_(budget != nullptr ? std::clamp(threads, 1, budget->total_) : 0) {
      if (budget_ != nullptr && !budget_->try_acquire(threads_)) budget_ = nullptr;
      owns_ = budget_ != nullptr || budget == nullptr;
    }
    ~Slot() {
      if (budget_ != nullptr) budget_->release(threads_);
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

    // False only when a try_to_lock Slot did not get its threads.
    bool owns_threads() const { return owns_; }

   private:
    ComputeBudget* budget_;
    int threads_;
    bool owns_ = true;
  };

 private:
  void acquire(int threads) {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t ticket = next_ticket_++;
    cv_.wait(lock, [&] { return ticket == serving_ && free_ >= threads; });
    ++serving_;
    free_ -= threads;
    peak_ = std::max(peak_, total_ - free_);
    cv_.notify_all();  // the next ticket may fit in what is left
  }
  bool try_acquire(int threads) {
    std::lock_guard<std::mutex> lock(mu_);
    if (next_ticket_ != serving_ || free_ < threads) return false;  // busy, or someone is waiting first
    ++next_ticket_;
    ++serving_;
    free_ -= threads;
    peak_ = std::max(peak_, total_ - free_);
    return true;
  }
  void release(int threads) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_ += threads;
    }
    cv_.notify_all();
  }

  const int total_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int free_;                  // guarded by mu_
  int peak_ = 0;              // guarded by mu_
  uint64_t next_ticket_ = 0;  // guarded by mu_: the ticket the next acquire takes
  uint64_t serving_ = 0;      // guarded by mu_: the ticket admitted next
};

}  // namespace kiln::serve
