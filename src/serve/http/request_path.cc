#include "serve/http/request_path.h"

namespace kiln::serve::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Expected<std::vector<std::string>> split_request_path(std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  std::vector<std::string> parts;
  parts.reserve(8);  // one allocation for any path the routes know
  size_t start = 0;
  while (start < target.size()) {
    size_t end = target.find('/', start);
    if (end == std::string_view::npos) end = target.size();
    const std::string_view raw = target.substr(start, end - start);
    start = end + 1;
    // Leading empty segments ("//v2", from a base URL ending in '/') and a trailing one ("v2/") are not
    // part of the route.
    if (raw.empty() && (parts.empty() || start >= target.size())) continue;
    std::string& part = parts.emplace_back();
    part.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '%') {
        part += raw[i];
        continue;
      }
      if (i + 2 >= raw.size() || hex_value(raw[i + 1]) < 0 || hex_value(raw[i + 2]) < 0) {
        return Status::InvalidArgument("malformed percent-escape in the path segment '" + std::string(raw) + "'");
      }
      part += static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
      i += 2;
    }
  }
  return parts;
}

}  // namespace kiln::serve::http
