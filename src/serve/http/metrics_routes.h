// The Prometheus scrape endpoint: GET /metrics in the text exposition format.
#pragma once

#include <prometheus/registry.h>

#include <memory>

#include "serve/http/http_server.h"

namespace kiln::serve::http {

// An HttpHandler serving `registry` at /metrics (404 elsewhere). Thread-safe.
HttpHandler metrics_handler(std::shared_ptr<prometheus::Registry> registry);

}  // namespace kiln::serve::http
