// ModelStatistics: what Triton's statistics extension reports for one model version (HTTP
// GET /v2/models/{m}/versions/{v}/stats, gRPC ModelStatistics): counts and cumulative durations of
// requests and executions since the version loaded. perf_analyzer reads it to split latency into
// queue and compute time.
//
// As in Triton: success and fail count requests with their whole duration; queue and compute_* count
// successful requests only (each request of a merged batch counts the batch's compute time);
// inference_count counts rows and execution_count model runs, both of successful executions; the
// batch table has one row per batch size executed. Thread-safe: recording takes a short lock.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "serve/dynamic_batcher.h"
#include "serve/inference_request.h"

namespace kiln::serve {

struct DurationStatistic {
  uint64_t count = 0;
  uint64_t ns = 0;  // cumulative nanoseconds

  void add(Clock::duration d);
};

struct BatchStatistics {
  uint64_t batch_size = 0;
  DurationStatistic compute_input;
  DurationStatistic compute_infer;
  DurationStatistic compute_output;
};

struct ModelStatisticsSnapshot {
  uint64_t last_inference_ms = 0;  // milliseconds since the Unix epoch of the last request; 0: none yet
  uint64_t inference_count = 0;
  uint64_t execution_count = 0;
  DurationStatistic success;
  DurationStatistic fail;
  DurationStatistic queue;
  DurationStatistic compute_input;
  DurationStatistic compute_infer;
  DurationStatistic compute_output;
  std::vector<BatchStatistics> batch_stats;  // ascending batch size
};

class ModelStatistics {
 public:
  // One request finished (or was rejected before queueing: `timing` all zero), after `total`.
  void record_request(bool succeeded, Clock::duration total, const RequestTiming& timing);
  // One execution of the batcher finished.
  void record_execution(const DynamicBatcher::Execution& execution);

  ModelStatisticsSnapshot snapshot() const;

 private:
  mutable std::mutex mu_;
  ModelStatisticsSnapshot stats_;                // guarded by mu_; batch_stats kept in by_size_
  std::map<uint64_t, BatchStatistics> by_size_;  // guarded by mu_
};

}  // namespace kiln::serve
