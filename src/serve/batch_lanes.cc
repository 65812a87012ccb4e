#include "serve/batch_lanes.h"

#include <algorithm>
#include <cstdlib>

namespace kiln::serve {

std::vector<size_t> balanced_groups(const std::vector<int64_t>& rows, int parts) {
  const size_t n = rows.size();
  const size_t groups = std::min<size_t>(n, static_cast<size_t>(std::max(1, parts)));
  std::vector<int64_t> prefix(n + 1, 0);  // prefix[i]: rows of requests [0, i)
  for (size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + std::max<int64_t>(rows[i], 0);
  const int64_t total = prefix[n];
  std::vector<size_t> bounds{0};
  for (size_t g = 1; g < groups; ++g) {
    // The cut closest to g/groups of the rows, leaving at least one request for each later group.
    const double target = static_cast<double>(total) * static_cast<double>(g) / static_cast<double>(groups);
    const size_t lo = bounds.back() + 1;
    const size_t hi = n - (groups - g);
    size_t best = lo;
    for (size_t cut = lo; cut <= hi; ++cut) {
      if (std::abs(static_cast<double>(prefix[cut]) - target) < std::abs(static_cast<double>(prefix[best]) - target)) {
        best = cut;
      }
    }
    bounds.push_back(best);
  }
  bounds.push_back(n);
  return bounds;
}

std::vector<int64_t> part_sizes(int64_t rows, int parts) {
  const std::vector<size_t> bounds = balanced_groups(std::vector<int64_t>(static_cast<size_t>(std::max<int64_t>(rows, 0)), 1), parts);
  std::vector<int64_t> sizes;
  for (size_t g = 0; g + 1 < bounds.size(); ++g) sizes.push_back(static_cast<int64_t>(bounds[g + 1] - bounds[g]));
  return sizes;
}

BatchLanes::BatchLanes(int lanes) {
  const size_t n = static_cast<size_t>(std::max(1, lanes));
  for (size_t i = 0; i < n; ++i) pools_.push_back(std::make_shared<BufferPool>());
  for (size_t i = 1; i < n; ++i) threads_.emplace_back([this, i] { lane_loop(i); });
}

BatchLanes::~BatchLanes() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  start_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void BatchLanes::run(size_t n, const std::function<void(size_t)>& part) {
  n = std::min(n, size());
  if (n == 0) return;
  if (n > 1) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      part_ = &part;
      active_ = n;
      pending_ = n - 1;
      ++round_;
    }
    start_cv_.notify_all();
  }
  part(0);
  if (n > 1) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return pending_ == 0; });
    part_ = nullptr;
  }
}

void BatchLanes::lane_loop(size_t lane) {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    start_cv_.wait(lock, [&] { return stopping_ || (round_ != seen && lane < active_); });
    if (stopping_) return;
    seen = round_;
    const std::function<void(size_t)>* part = part_;
    lock.unlock();
    (*part)(lane);
    lock.lock();
    if (--pending_ == 0) done_cv_.notify_one();
  }
}

}  // namespace kiln::serve
