#include "kernels/run_stop.h"

#include "exec/graph_plan.h"

namespace kiln {

Status check_run_stop(const Frame* frame) {
  const RunOptions* options = frame != nullptr ? frame->run_options() : nullptr;
  if (options == nullptr) return Status::OK();
  // Cancellation first: a client that went away needs no deadline message.
  if (options->cancelled != nullptr && options->cancelled->load(std::memory_order_relaxed)) {
    return Status::Cancelled("the run was cancelled");
  }
  if (options->cancel_when && options->cancel_when()) return Status::Cancelled("the run was cancelled");
  if (options->deadline != std::chrono::steady_clock::time_point::max() &&
      std::chrono::steady_clock::now() >= options->deadline) {
    return Status::DeadlineExceeded("the run's deadline passed");
  }
  return Status::OK();
}

}  // namespace kiln
