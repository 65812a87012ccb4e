// Fuzzes what kiln serve reads from an HTTP client's bytes before any model sees them: the KServe v2
// inference request body (JSON, or a JSON header plus binary tensor sections) and gzip/deflate body
// decoding. A request that decodes is echoed back through the response encoder, so every tensor the
// decoder can produce (any datatype, shape and binary/JSON form) is also a tensor the encoder must
// accept.
//
// The first input byte picks the path; the rest is the body:
//   0: JSON body, no Inference-Header-Content-Length
//   1: binary extension, the header length taken from the next two bytes
//   2, 3: a gzip / deflate body, decoded under a 1 MiB cap, then decoded as a JSON request
#include <cstdlib>
#include <optional>
#include <string_view>

#include "serve/http/content_coding.h"
#include "serve/http/infer_codec.h"

namespace {

using namespace kiln::serve;

void decode_and_echo(std::string_view body, std::optional<size_t> header_length) {
  // No region is registered: shared-memory parameters are parsed and refused, never mapped.
  static const SystemSharedMemory no_regions;
  auto decoded = http::decode_infer_request(body, header_length, no_regions);
  if (!decoded.ok()) return;
  InferenceResponse echo;
  echo.model = "fuzz";
  echo.id = decoded->request.id;
  echo.outputs = decoded->request.inputs;
  auto encoded = http::encode_infer_response(echo, *decoded);
  if (!encoded.ok()) abort();  // a tensor the decoder accepted must encode
  if (encoded->header_length && *encoded->header_length > encoded->body.size()) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      decode_and_echo(rest, std::nullopt);
      break;
    case 1: {
      if (rest.size() < 2) return 0;
      size_t header_length = static_cast<uint8_t>(rest[0]) | (static_cast<size_t>(static_cast<uint8_t>(rest[1])) << 8);
      decode_and_echo(rest.substr(2), header_length);
      break;
    }
    default: {
      constexpr size_t kMaxDecoded = size_t{1} << 20;
      auto coding = data[0] % 4 == 2 ? http::ContentCoding::kGzip : http::ContentCoding::kDeflate;
      auto body = http::decode_content(rest, coding, kMaxDecoded);
      if (!body.ok()) return 0;
      if (body->size() > kMaxDecoded) abort();
      // What was decoded must survive a round trip through the encoder.
      auto again = http::decode_content(http::encode_content(*body, coding), coding, kMaxDecoded);
      if (!again.ok() || *again != *body) abort();
      decode_and_echo(*body, std::nullopt);
      break;
    }
  }
  return 0;
}
