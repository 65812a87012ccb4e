// ComputeBudget: the process-wide cap on model runs in progress at once.
//
// Every model version's batcher workers take a slot for the duration of Session::run, so however many
// models and instances are loaded, no more than `slots` inferences compute at the same time and the
// engine never asks the OS for more cores than the operator gave with --threads (oversubscription is
// what makes latency explode when several models share a machine).
#pragma once

#include <condition_variable>
#include <mutex>

namespace kiln::serve {

class ComputeBudget {
 public:
  explicit ComputeBudget(int slots) : free_(slots < 1 ? 1 : slots) {}

  // Holds one slot while alive.
  class Slot {
   public:
    explicit Slot(ComputeBudget* budget) : budget_(budget) {
      if (budget_ != nullptr) budget_->acquire();
    }
    ~Slot() {
      if (budget_ != nullptr) budget_->release();
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    ComputeBudget* budget_;
  };

 private:
  void acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return free_ > 0; });
    --free_;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++free_;
    }
    cv_.notify_one();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  int free_;  // guarded by mu_
};

}  // namespace kiln::serve
