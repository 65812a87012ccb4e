// ServeMetrics: the server's Prometheus metrics, per model and version.
//
// Names follow Triton's where Triton has the metric (nv_inference_*), so existing dashboards work;
// kiln's own carry a kiln_ prefix. Durations are cumulative microseconds (counters), as in Triton;
// the latency histogram is in seconds, as Prometheus recommends.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <string>

namespace kiln::serve {

// The metrics of one model version. References into the registry: valid while the ServeMetrics lives.
struct ModelMetrics {
  prometheus::Counter& request_success;
  prometheus::Counter& request_failure;
  prometheus::Counter& inference_count;  // rows inferred (a batch of 8 counts 8)
  prometheus::Counter& execution_count;  // model runs (a batch of 8 counts 1); their ratio is the batching
  prometheus::Counter& request_duration_us;
  prometheus::Counter& queue_duration_us;
  prometheus::Counter& compute_input_duration_us;
  prometheus::Counter& compute_infer_duration_us;
  prometheus::Counter& compute_output_duration_us;
  prometheus::Histogram& request_latency_seconds;
  prometheus::Gauge& queue_size;
};

class ServeMetrics {
 public:
  ServeMetrics();

  // Returns the metrics for a model version, creating them on first use. Thread-safe (prometheus-cpp
  // families lock internally); the returned object may be kept and used from any thread.
  std::shared_ptr<ModelMetrics> for_model(const std::string& model, int64_t version);

  // Requests the frontends are handling right now.
  prometheus::Gauge& inflight_requests() { return inflight_; }

  // Reads the process's resident and virtual memory (Linux /proc/self/statm) into their gauges; a
  // metrics endpoint calls it before each scrape. Thread-safe.
  void refresh_process_metrics();

  // What a metrics endpoint serializes.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& success_;
  prometheus::Family<prometheus::Counter>& failure_;
  prometheus::Family<prometheus::Counter>& inference_count_;
  prometheus::Family<prometheus::Counter>& exec_count_;
  prometheus::Family<prometheus::Counter>& request_us_;
  prometheus::Family<prometheus::Counter>& queue_us_;
  prometheus::Family<prometheus::Counter>& input_us_;
  prometheus::Family<prometheus::Counter>& infer_us_;
  prometheus::Family<prometheus::Counter>& output_us_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Gauge>& queue_size_;
  prometheus::Gauge& inflight_;
  prometheus::Gauge& resident_bytes_;
  prometheus::Gauge& virtual_bytes_;
};

}  // namespace kiln::serve
