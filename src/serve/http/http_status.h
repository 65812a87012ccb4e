// Status to HTTP, at the frontend's edge: the only place codes become protocol statuses.
#pragma once

#include "kiln/status.h"
#include "serve/http/http_server.h"

namespace kiln::serve::http {

// 400 for a bad request (InvalidArgument, Corruption, FailedPrecondition, Unimplemented), 404 for
// NotFound, 503 for Unavailable, ResourceExhausted and DeadlineExceeded (retry later), 499 for
// Cancelled (the client is gone), 500 for the rest.
unsigned http_status_for(const Status& status);

// {"error": "<message>"} with http_status_for(status).
HttpResponse error_response(const Status& status);

}  // namespace kiln::serve::http
