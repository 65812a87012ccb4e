#include "serve/model_statistics.h"

#include <algorithm>
#include <chrono>

namespace kiln::serve {

void DurationStatistic::add(Clock::duration d) {
  ++count;
  ns += static_cast<uint64_t>(std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
}

void ModelStatistics::record_request(bool succeeded, Clock::duration total, const RequestTiming& timing) {
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  std::lock_guard<std::mutex> lock(mu_);
  stats_.last_inference_ms = static_cast<uint64_t>(now_ms.count());
  if (!succeeded) {
    stats_.fail.add(total);
    return;
  }
  stats_.success.add(total);
  stats_.queue.add(timing.queue);
  stats_.compute_input.add(timing.compute_input);
  stats_.compute_infer.add(timing.compute_infer);
  stats_.compute_output.add(timing.compute_output);
}

void ModelStatistics::record_execution(const DynamicBatcher::Execution& execution) {
  if (!execution.succeeded) return;
  std::lock_guard<std::mutex> lock(mu_);
  stats_.inference_count += static_cast<uint64_t>(execution.rows);
  ++stats_.execution_count;
  BatchStatistics& b = by_size_[static_cast<uint64_t>(execution.rows)];
  b.batch_size = static_cast<uint64_t>(execution.rows);
  b.compute_input.add(execution.timing.compute_input);
  b.compute_infer.add(execution.timing.compute_infer);
  b.compute_output.add(execution.timing.compute_output);
}

ModelStatisticsSnapshot ModelStatistics::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  ModelStatisticsSnapshot out = stats_;
  for (const auto& [size, b] : by_size_) out.batch_stats.push_back(b);
  return out;
}

}  // namespace kiln::serve
