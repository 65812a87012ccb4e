// KServeRoutes: the KServe v2 REST endpoints (health, server and model metadata, inference, the model
// repository extension) on top of ModelRepository. Parses into native types early and maps Status to
// HTTP only at the edge; never lets an exception escape.
//
//   GET  /v2/health/live | /v2/health/ready | /v2
//   GET  /v2/models/{m}[/versions/{v}] | .../ready | .../config | .../stats;  GET /v2/models/stats
//   POST /v2/models/{m}[/versions/{v}]/infer
//   POST /v2/repository/index | /v2/repository/models/{m}/load | /v2/repository/models/{m}/unload
//   /v2/systemsharedmemory/..., /v2/cudasharedmemory/... (shared_memory_routes.h)
//   /v2/trace/setting, /v2/models/{m}/trace/setting, /v2/logging (not supported: 400)
// Request bodies may be gzip or deflate (Content-Encoding); answers are compressed when the client's
// Accept-Encoding asks for it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "serve/http/access_log.h"
#include "serve/http/http_server.h"
#include "serve/model_repository.h"
#include "serve/shared_memory/system_shared_memory.h"

namespace kiln::serve::http {

struct RoutesOptions {
  std::string server_version;
  // Applied to requests without a "timeout" parameter; zero means none.
  std::chrono::microseconds default_timeout{0};
  AccessLogSink access_log;  // null: no access log
  // The largest request body once decoded from gzip or deflate (413 beyond); as HttpLimits::max_body_bytes.
  size_t max_request_bytes = size_t{64} << 20;
  // Registered system shared memory regions; the gRPC frontend shares the same registry.
  std::shared_ptr<SystemSharedMemory> shared_memory = std::make_shared<SystemSharedMemory>();
};

class KServeRoutes {
 public:
  // `repository` and `metrics` must outlive this object; response encoding runs on `ioc`'s threads,
  // not the scheduler's, so model instances only compute.
  KServeRoutes(ModelRepository* repository, ServeMetrics* metrics, boost::asio::io_context& ioc, RoutesOptions options);

  // The HttpHandler. Thread-safe.
  void handle(HttpRequest&& request, Responder respond, ClientGone client_gone);

 private:
  // `record` (null without an access log) is filled with what only the handler knows: model, version, id.
  void route(HttpRequest&& request, Responder& respond, ClientGone& client_gone,
             const std::shared_ptr<AccessRecord>& record);
  void infer(const std::string& model, int64_t version, HttpRequest&& request, Responder respond,
             ClientGone client_gone, std::shared_ptr<AccessRecord> record);

  ModelRepository* const repository_;
  ServeMetrics* const metrics_;
  boost::asio::io_context& ioc_;
  const RoutesOptions options_;
};

}  // namespace kiln::serve::http
