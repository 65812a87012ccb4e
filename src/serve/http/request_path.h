// The path of a request target, split into its segments for routing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"

namespace kiln::serve::http {

// Splits the path of `target` (without its query string) at '/' and percent-decodes each segment
// (RFC 3986 section 2.1), as clients escape model names (tritonclient: urllib.parse.quote). Empty
// segments before the first name and after a trailing '/' are dropped; an empty segment inside the
// path is kept, so that ".../versions//infer" (an empty version: the latest, as Triton reads it) is
// not read as ".../versions/infer". Fails with InvalidArgument on a malformed escape.
Expected<std::vector<std::string>> split_request_path(std::string_view target);

}  // namespace kiln::serve::http
