#include "serve/metrics.h"

#include <unistd.h>

#include <fstream>

namespace kiln::serve {

namespace {

prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}

}  // namespace

ServeMetrics::ServeMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      success_(counter(*registry_, "nv_inference_request_success", "Number of successful inference requests")),
      failure_(counter(*registry_, "nv_inference_request_failure", "Number of failed inference requests")),
      inference_count_(counter(*registry_, "nv_inference_count", "Number of inferences performed (batch rows)")),
      exec_count_(counter(*registry_, "nv_inference_exec_count", "Number of model executions (batches)")),
      request_us_(counter(*registry_, "nv_inference_request_duration_us", "Cumulative request duration (us)")),
      queue_us_(counter(*registry_, "nv_inference_queue_duration_us", "Cumulative time requests spent queued (us)")),
      input_us_(
          counter(*registry_, "nv_inference_compute_input_duration_us", "Cumulative time merging batch inputs (us)")),
      infer_us_(counter(*registry_, "nv_inference_compute_infer_duration_us", "Cumulative model run time (us)")),
      output_us_(counter(*registry_, "nv_inference_compute_output_duration_us",
                         "Cumulative time splitting batch outputs (us)")),
      latency_(prometheus::BuildHistogram()
                   .Name("kiln_inference_request_latency_seconds")
                   .Help("Inference request latency from scheduling to completion")
                   .Register(*registry_)),
      queue_size_(prometheus::BuildGauge()
                      .Name("kiln_inference_queue_size")
                      .Help("Requests waiting in a model version's queue")
                      .Register(*registry_)),
      inflight_(prometheus::BuildGauge()
                    .Name("kiln_inflight_requests")
                    .Help("Requests the server is handling now")
                    .Register(*registry_)
                    .Add({})),
      // The names of Prometheus's standard process collector, so stock dashboards find them.
      resident_bytes_(prometheus::BuildGauge()
                          .Name("process_resident_memory_bytes")
                          .Help("Resident memory size in bytes")
                          .Register(*registry_)
                          .Add({})),
      virtual_bytes_(prometheus::BuildGauge()
                         .Name("process_virtual_memory_bytes")
                         .Help("Virtual memory size in bytes")
                         .Register(*registry_)
                         .Add({})) {}

void ServeMetrics::refresh_process_metrics() {
  std::ifstream statm("/proc/self/statm");
  double pages_virtual = 0;
  double pages_resident = 0;
  if (!(statm >> pages_virtual >> pages_resident)) return;  // not Linux: leave the gauges at 0
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  virtual_bytes_.Set(pages_virtual * page);
  resident_bytes_.Set(pages_resident * page);
}

std::shared_ptr<ModelMetrics> ServeMetrics::for_model(const std::string& model, int64_t version) {
  const prometheus::Labels labels{{"model", model}, {"version", std::to_string(version)}};
  // Buckets from 100us to 10s: a tiny model on loopback answers in well under a millisecond, a large
  // one under load in seconds.
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return std::make_shared<ModelMetrics>(
      ModelMetrics{success_.Add(labels), failure_.Add(labels), inference_count_.Add(labels), exec_count_.Add(labels),
                   request_us_.Add(labels), queue_us_.Add(labels), input_us_.Add(labels), infer_us_.Add(labels),
                   output_us_.Add(labels), latency_.Add(labels, kBuckets), queue_size_.Add(labels)});
}

}  // namespace kiln::serve
