// HTTP content codings (RFC 9110 section 8.4.1) for request and response bodies: gzip and deflate,
// as tritonclient sends them (request_compression_algorithm) and asks for them
// (response_compression_algorithm). The codings are zlib's: gzip is RFC 1952, deflate the zlib
// format of RFC 1950 (raw RFC 1951 data, which some clients send for "deflate", is read too).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "kiln/status.h"

namespace kiln::serve::http {

enum class ContentCoding { kIdentity, kGzip, kDeflate };

// The coding a Content-Encoding header names: "", "identity", "gzip", "x-gzip" or "deflate" (any case).
// Fails with Unimplemented naming the coding for anything else, including a list of several codings.
Expected<ContentCoding> parse_content_encoding(std::string_view header);

// The coding to answer with under an Accept-Encoding header: gzip or deflate when the header accepts
// one of them (a q-value of 0 refuses it; the higher q-value wins, gzip on a tie), else identity.
ContentCoding choose_response_coding(std::string_view accept_encoding);

// "gzip" or "deflate" (the Content-Encoding value); "identity" for kIdentity.
std::string_view content_coding_name(ContentCoding coding);

// Decodes `body`. Fails with ResourceExhausted when the decoded body would exceed `max_bytes` (a
// small body can decode to gigabytes), and with InvalidArgument when the data is corrupt, truncated
// or followed by other bytes. Thread-safe.
Expected<std::string> decode_content(std::string_view body, ContentCoding coding, size_t max_bytes);

// Encodes `body` at zlib's fastest level: compression is paid per response on an I/O thread, and
// tensor data gains little from harder work. Thread-safe.
std::string encode_content(std::string_view body, ContentCoding coding);

}  // namespace kiln::serve::http
