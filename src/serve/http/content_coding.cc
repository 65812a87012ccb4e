#include "serve/http/content_coding.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <memory>

namespace kiln::serve::http {

namespace {

// Content codings are case-insensitive tokens (RFC 9110 section 8.4.1).
bool same_token(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// zlib's windowBits: 15 (the largest window) plus 16 for the gzip wrapper, or negative for raw
// deflate data without the zlib wrapper.
constexpr int kGzipWindow = 15 + 16;
constexpr int kZlibWindow = 15;
constexpr int kRawWindow = -15;

// RFC 1950 section 2.2: CM = 8 (deflate) and the first two bytes, big-endian, a multiple of 31.
bool has_zlib_header(std::string_view body) {
  if (body.size() < 2) return false;
  const auto b0 = static_cast<unsigned char>(body[0]);
  const auto b1 = static_cast<unsigned char>(body[1]);
  return (b0 & 0x0f) == 8 && ((b0 << 8) | b1) % 31 == 0;
}

// zlib counts in uInt; feed and drain it at most this many bytes at a time.
constexpr size_t kMaxChunk = UINT_MAX;

// One inflate or deflate call over the next chunks of `in` and `out` (zlib counts in uInt, so a call
// sees at most kMaxChunk of each); advances `consumed` and `produced`. `step` is told whether this
// chunk holds the last input byte.
template <class Step>
int step_stream(z_stream& stream, std::string_view in, size_t* consumed, std::string* out, size_t* produced,
                Step step) {
  const size_t in_chunk = std::min(in.size() - *consumed, kMaxChunk);
  const size_t out_chunk = std::min(out->size() - *produced, kMaxChunk);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + *consumed));
  stream.avail_in = static_cast<uInt>(in_chunk);
  stream.next_out = reinterpret_cast<Bytef*>(out->data() + *produced);
  stream.avail_out = static_cast<uInt>(out_chunk);
  const int rc = step(*consumed + in_chunk == in.size());
  *consumed += in_chunk - stream.avail_in;
  *produced += out_chunk - stream.avail_out;
  return rc;
}

}  // namespace

Expected<ContentCoding> parse_content_encoding(std::string_view header) {
  const std::string_view name = trim(header);
  if (name.empty() || same_token(name, "identity")) return ContentCoding::kIdentity;
  if (same_token(name, "gzip") || same_token(name, "x-gzip")) return ContentCoding::kGzip;
  if (same_token(name, "deflate")) return ContentCoding::kDeflate;
  return Status::Unimplemented("Content-Encoding '" + std::string(name) +
                               "' is not supported (supported: gzip, deflate, identity)");
}

ContentCoding choose_response_coding(std::string_view accept_encoding) {
  // -1: not named; "*" then stands for it.
  double gzip_q = -1, deflate_q = -1, any_q = 0;
  while (!accept_encoding.empty()) {
    const size_t comma = accept_encoding.find(',');
    std::string_view item = accept_encoding.substr(0, comma);
    accept_encoding = comma == std::string_view::npos ? std::string_view() : accept_encoding.substr(comma + 1);
    double q = 1;
    if (const size_t semi = item.find(';'); semi != std::string_view::npos) {
      std::string_view param = trim(item.substr(semi + 1));
      item = item.substr(0, semi);
      if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        // std::strtod needs a terminated string; a q-value has at most 5 characters (RFC 9110 12.4.2).
        const std::string value(param.substr(2, 8));
        q = std::strtod(value.c_str(), nullptr);
      }
    }
    item = trim(item);
    if (same_token(item, "gzip") || same_token(item, "x-gzip")) gzip_q = q;
    if (same_token(item, "deflate")) deflate_q = q;
    if (item == "*") any_q = q;
  }
  if (gzip_q < 0) gzip_q = any_q;
  if (deflate_q < 0) deflate_q = any_q;
  if (gzip_q > 0 && gzip_q >= deflate_q) return ContentCoding::kGzip;
  if (deflate_q > 0) return ContentCoding::kDeflate;
  return ContentCoding::kIdentity;
}

std::string_view content_coding_name(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kGzip:
      return "gzip";
    case ContentCoding::kDeflate:
      return "deflate";
    case ContentCoding::kIdentity:
      break;
  }
  return "identity";
}

Expected<std::string> decode_content(std::string_view body, ContentCoding coding, size_t max_bytes) {
  if (coding == ContentCoding::kIdentity) return std::string(body);
  const std::string name(content_coding_name(coding));
  const int window = coding == ContentCoding::kGzip ? kGzipWindow : has_zlib_header(body) ? kZlibWindow : kRawWindow;
  z_stream stream{};
  if (inflateInit2(&stream, window) != Z_OK) return Status::Internal("cannot start " + name + " decoding");
  std::unique_ptr<z_stream, int (*)(z_stream*)> end(&stream, inflateEnd);
  std::string out;
  // Most request bodies (JSON, tensor data) shrink by less than 4x; grow from there as needed.
  out.resize(std::min(max_bytes, std::max<size_t>(body.size() * 4, 4096)));
  size_t produced = 0;
  size_t consumed = 0;
  for (;;) {
    if (produced == out.size()) {
      if (out.size() >= max_bytes) {
        return Status::ResourceExhausted("the " + name + " request body decodes to more than the limit of " +
                                         std::to_string(max_bytes) + " bytes");
      }
      out.resize(std::min(max_bytes, out.size() * 2));
    }
    const int rc = step_stream(stream, body, &consumed, &out, &produced,
                               [&](bool) { return inflate(&stream, Z_NO_FLUSH); });
    if (rc == Z_STREAM_END) {
      if (consumed == body.size()) break;
      // A gzip body may hold several members (RFC 1952 section 2.2); anything else after the end is an error.
      if (coding != ContentCoding::kGzip) {
        return Status::InvalidArgument(std::to_string(body.size() - consumed) + " bytes follow the " + name +
                                       " data of the request body");
      }
      inflateReset(&stream);
      continue;
    }
    if (rc == Z_BUF_ERROR && consumed == body.size() && stream.avail_out != 0) {
      return Status::InvalidArgument("the " + name + " request body is truncated");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Status::InvalidArgument("the " + name + " request body is corrupt: " +
                                     (stream.msg != nullptr ? stream.msg : "zlib error " + std::to_string(rc)));
    }
  }
  out.resize(produced);
  return out;
}

std::string encode_content(std::string_view body, ContentCoding coding) {
  if (coding == ContentCoding::kIdentity) return std::string(body);
  z_stream stream{};
  const int window = coding == ContentCoding::kGzip ? kGzipWindow : kZlibWindow;
  // deflateInit2 fails only for bad arguments or no memory; these arguments are constant.
  if (deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, window, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::bad_alloc();
  std::unique_ptr<z_stream, int (*)(z_stream*)> end(&stream, deflateEnd);
  std::string out;
  out.resize(deflateBound(&stream, body.size()));
  size_t produced = 0;
  size_t consumed = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (produced == out.size()) out.resize(out.size() * 2);
    rc = step_stream(stream, body, &consumed, &out, &produced,
                     [&](bool last_input) { return deflate(&stream, last_input ? Z_FINISH : Z_NO_FLUSH); });
  }
  out.resize(produced);
  return out;
}

}  // namespace kiln::serve::http
