// Access log records: one per HTTP request answered by the KServe frontend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace kiln::serve::http {

struct AccessRecord {
  std::string method;
  std::string target;
  std::string model;       // for model endpoints; "" otherwise
  int64_t version = 0;     // the version that served an inference; 0 when none
  std::string request_id;  // the inference request's "id", if it had one
  unsigned status = 0;
  double latency_ms = 0;  // from the request being read to the response being handed to the connection
  size_t bytes_in = 0;
  size_t bytes_out = 0;
};

// Receives each record, from any I/O thread; must be thread-safe and quick.
using AccessLogSink = std::function<void(const AccessRecord&)>;

// One line without the newline: `text` is `method target status latency key=value...`; json is one
// object per line for log pipelines.
std::string format_access_record(const AccessRecord& record, bool json);

}  // namespace kiln::serve::http
