#include "serve/http/http_status.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace kiln::serve::http {

unsigned http_status_for(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kCorruption:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kUnimplemented:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted:
    // A request that timed out is retryable, and Triton answers one timed out in its queue with 503.
    case StatusCode::kDeadlineExceeded:
      return 503;
    case StatusCode::kCancelled:
      return 499;  // nginx's "client closed request": only the access log sees it
    case StatusCode::kIOError:
    case StatusCode::kInternal:
    default:
      return 500;
  }
}

HttpResponse error_response(const Status& status) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("error");
  w.String(status.message());
  w.EndObject();
  return json_response(http_status_for(status), std::string(buffer.GetString(), buffer.GetSize()));
}

}  // namespace kiln::serve::http
