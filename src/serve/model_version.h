// ModelVersion: one loaded version of a model: its Session, completed config, scheduler and metrics.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kiln/session.h"
#include "kiln/status.h"
#include "serve/compute_budget.h"
#include "serve/dynamic_batcher.h"
#include "serve/inference_request.h"
#include "serve/metrics.h"
#include "serve/model_config.h"
#include "serve/model_statistics.h"

namespace kiln::serve {

struct SchedulerOptions {
  int max_instances = 1;  // caps each version's instance count (more workers than threads only queue)
  size_t max_queue_size = 1024;
  std::shared_ptr<ComputeBudget> budget;  // shared by every model version; null: no process-wide cap
  // Intra-op threads of each run (SessionOptions::intra_op_threads), which is what a run asks of the
  // budget. 0: the budget divided among the version's instances (at least 1 each), so one instance
  // runs on every budgeted core and N instances on a share each; without a budget, all cores.
  int intra_op_threads = 0;
};

// The intra-op threads a version with `instances` instances runs with under `options` (see above);
// 0 means all cores (no budget, no explicit count).
int intra_op_threads_for(const SchedulerOptions& options, int instances);

class ModelVersion {
 public:
  // Loads `path`, completes `config` from the model, runs one warm-up inference so the first client
  // request does not pay for first-run setup, and starts the scheduler. Fails with the Session's error
  // (naming the file) or the config mismatch; a failed warm-up fails the load too, since a model that
  // cannot run on zeros of its declared shapes is not one kiln can serve reliably.
  static Expected<std::unique_ptr<ModelVersion>> load(const std::string& path, int64_t version, ModelConfig config,
                                                      const SchedulerOptions& options, ServeMetrics* metrics);
  ~ModelVersion();  // drains

  const std::string& name() const { return config_.name; }
  int64_t version() const { return version_; }
  const ModelConfig& config() const { return config_; }
  // Worker threads (instances) and the intra-op threads of each run; 0 intra-op threads: all cores.
  int instance_count() const { return instance_count_; }
  int intra_op_threads() const { return intra_op_threads_; }
  // Triton's statistics extension: counts and durations since the version loaded.
  ModelStatisticsSnapshot statistics() const { return statistics_.snapshot(); }

  // Validates the request against the config (names, datatypes, shapes, batch size) and queues it. On
  // OK the scheduler owns the request and calls `done` exactly once, on a scheduler thread or (an
  // inline run of a small model) on the calling thread before submit returns. Otherwise
  // returns InvalidArgument (bad input) or Unavailable (queue full, shutting down) naming the model and
  // input, and does not call `done`. Thread-safe.
  Status submit(InferenceRequest request, InferenceCallback done);

  // Stops accepting requests, finishes those queued and in flight, and stops the workers. Idempotent.
  void shutdown();
  // True once shutdown() has begun: a reload or unload retired this version.
  bool retired() const { return batcher_ == nullptr || batcher_->stopping(); }

 private:
  ModelVersion(std::unique_ptr<Session> session, int64_t version, ModelConfig config,
               std::shared_ptr<ModelMetrics> metrics, int instance_count, int intra_op_threads);
  Status validate(InferenceRequest* request) const;

  std::unique_ptr<Session> session_;
  const int64_t version_;
  const ModelConfig config_;
  std::shared_ptr<ModelMetrics> metrics_;
  const int instance_count_;
  const int intra_op_threads_;
  ModelStatistics statistics_;
  std::unique_ptr<DynamicBatcher> batcher_;  // last: its workers use the members above until joined
};

// Runs the session once on zero-filled inputs: dynamic dims become 1, optional inputs are omitted;
// with max_batch_size > 0 the first (batch) dim is `batch`. `threads` > 0 caps the team
// (RunOptions::intra_op_threads), for the parts of a split batch.
Status warm_up(const Session& session, const ModelConfig& config, int64_t batch = 1, int threads = 0);

}  // namespace kiln::serve
