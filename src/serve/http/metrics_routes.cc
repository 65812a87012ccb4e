#include "serve/http/metrics_routes.h"

#include <prometheus/text_serializer.h>

#include "serve/http/http_status.h"

namespace kiln::serve::http {

HttpHandler metrics_handler(ServeMetrics* metrics) {
  return [metrics](HttpRequest&& request, Responder respond, const ClientGone&) {
    std::string_view target(request.target().data(), request.target().size());
    target = target.substr(0, target.find('?'));
    if (target != "/metrics") {
      return respond(error_response(Status::NotFound("unknown endpoint " + std::string(target) + "; try /metrics")));
    }
    try {
      metrics->refresh_process_metrics();
      HttpResponse res = json_response(200, prometheus::TextSerializer().Serialize(metrics->registry()->Collect()));
      res.set(boost::beast::http::field::content_type, "text/plain; version=0.0.4");
      respond(std::move(res));
    } catch (const std::exception& e) {
      respond(error_response(Status::Internal(std::string("metrics: ") + e.what())));
    }
  };
}

}  // namespace kiln::serve::http
