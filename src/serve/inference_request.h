// InferenceRequest and InferenceResponse: what the frontends decode a request into and encode a
// response from. Native tensors only; no protocol types cross this line.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/session.h"
#include "kiln/status.h"
#include "serve/cancellation.h"

namespace kiln::serve {

using Clock = std::chrono::steady_clock;

// Longest per-request timeout a client may ask for (one day, in microseconds). Larger values would
// overflow the clock arithmetic (now + timeout in nanoseconds) into a deadline already past.
inline constexpr int64_t kMaxRequestTimeoutUs = int64_t{24} * 3600 * 1000 * 1000;

struct InferenceRequest {
  std::string model;
  int64_t version = 0;  // 0: the model's latest ready version
  std::string id;       // echoed back in the response
  std::vector<NamedValue> inputs;
  std::vector<std::string> requested_outputs;  // empty: all outputs
  // Triton's classification extension (serve/classification.h): output name -> K, the count of top
  // values that replace that output.
  std::map<std::string, int64_t> classification;
  // The request fails with DeadlineExceeded at this time, whether still queued (it never runs) or
  // running (the engine stops between nodes); max() means no timeout.
  Clock::time_point deadline = Clock::time_point::max();
  // Raised by the frontend when the client goes away (HTTP connection closed, gRPC call cancelled); the
  // request then fails with Cancelled, dropped from the queue at once or stopped while it runs. Null:
  // the frontend cannot tell.
  std::shared_ptr<Cancellation> cancelled;
};

struct InferenceResponse {
  std::string model;
  int64_t version = 0;
  std::string id;
  std::vector<NamedValue> outputs;  // in the model's output order, filtered by requested_outputs
};

// Called exactly once per submitted request, with the response or a non-OK status. It may run on a
// scheduler thread, so it must be quick and must not block: frontends post the result to their own
// I/O thread. A small model's run may also complete on the submitting thread, before the submit
// returns (DynamicBatcher's inline runs).
using InferenceCallback = std::function<void(Expected<InferenceResponse>)>;

}  // namespace kiln::serve
