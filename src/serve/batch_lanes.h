// Computing a merged batch as parts side by side, one thread each, instead of as one run on a team.
//
// A batch of requests is rows that do not depend on each other, so its parts need no barrier between
// them, where one run's OpenMP team waits at every parallel region (hundreds per model) for its
// slowest thread. On a server the cores also serve the I/O threads reading the next requests: a team
// member they preempt stalls the whole team for the preemption, a part run only stalls itself. The
// engine's per-row cost barely depends on the batch size once past a few rows (resnet18: 1.08x less
// per row from batch 1 to 8), so two parts of half the rows lose nothing to a batch twice their size.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/buffer_pool.h"

namespace kiln::serve {

// Splits requests of rows[i] rows each, in order, into at most `parts` contiguous groups whose row
// counts are as even as whole requests allow. Group g is requests [bounds[g], bounds[g + 1]); the
// result starts at 0 and ends at rows.size(). No group is empty (no requests: {0, 0}); one group when
// parts <= 1 or there is a single request. Eight single-row requests in two parts: {0, 4, 8}.
std::vector<size_t> balanced_groups(const std::vector<int64_t>& rows, int parts);

// The row counts of the groups balanced_groups makes of `rows` single-row requests: the batch sizes
// the parts of such a batch run at, for warming them up at load.
std::vector<int64_t> part_sizes(int64_t rows, int parts);

// A batcher worker's lanes: lane 0 is the worker's own thread, each other lane a thread that waits
// for parts to compute. Every lane has its own BufferPool (a pool has one owner thread at a time) for
// the tensors its parts allocate outside a model run, such as merged inputs. Not thread-safe: one
// worker drives it.
class BatchLanes {
 public:
  // `lanes` < 1 counts as 1 (the caller alone, no thread started).
  explicit BatchLanes(int lanes);
  // Joins the lane threads.
  ~BatchLanes();
  BatchLanes(const BatchLanes&) = delete;
  BatchLanes& operator=(const BatchLanes&) = delete;

  size_t size() const { return pools_.size(); }
  const std::shared_ptr<BufferPool>& pool(size_t lane) const { return pools_[lane]; }

  // Calls part(i) for i in [0, n) with n <= size(): part(0) on the calling thread, part(i) on lane i,
  // all at once; returns when every call has returned. `part` must not throw.
  void run(size_t n, const std::function<void(size_t)>& part);

 private:
  void lane_loop(size_t lane);

  std::vector<std::shared_ptr<BufferPool>> pools_;
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(size_t)>* part_ = nullptr;  // guarded by mu_: the parts being run
  size_t active_ = 0;                                  // guarded by mu_: lanes 1..active_-1 have a part
  uint64_t round_ = 0;                                 // guarded by mu_: bumped by each run()
  size_t pending_ = 0;                                 // guarded by mu_: lane parts not yet returned
  bool stopping_ = false;                              // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace kiln::serve
