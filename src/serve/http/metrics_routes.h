// The Prometheus scrape endpoint: GET /metrics in the text exposition format.
#pragma once

#include "serve/http/http_server.h"
#include "serve/metrics.h"

namespace kiln::serve::http {

// An HttpHandler serving `metrics` at /metrics (404 elsewhere); `metrics` must outlive it. Thread-safe.
HttpHandler metrics_handler(ServeMetrics* metrics);

}  // namespace kiln::serve::http
