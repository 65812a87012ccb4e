// Fuzzes what kiln serve reads from an HTTP client's bytes before any model sees them: the KServe v2
// inference request body (JSON, or a JSON header plus binary tensor sections) and gzip/deflate body
// decoding. A request that decodes is echoed back through the response encoder, so every tensor the
// decoder can produce (any datatype, shape and binary/JSON form) is also a tensor the encoder must
// accept.
//
// Inputs and outputs may name the system shared memory region "r" (4 KiB), registered at start.
//
// The first input byte picks the path; the rest is the body:
//   0: JSON body, no Inference-Header-Content-Length
//   1: binary extension, the header length taken from the next two bytes
//   2, 3: a gzip / deflate body, decoded under a 1 MiB cap, then decoded as a JSON request
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <optional>
#include <string_view>

#include "serve/http/content_coding.h"
#include "serve/http/infer_codec.h"

namespace {

using namespace kiln::serve;

// One 4 KiB system shared memory region "r", registered once, so that inputs and outputs naming it
// (at any offset and size the fuzzer finds) go through the bounds checks under the sanitizers. The
// object's name is unlinked at once: the registry's mapping keeps it alive.
const SystemSharedMemory& shared_memory() {
  static const SystemSharedMemory* registry = [] {
    auto* shm = new SystemSharedMemory();
    const std::string key = "/kiln_infer_request_fuzz_" + std::to_string(::getpid());
    const int fd = ::shm_open(key.c_str(), O_CREAT | O_RDWR, 0600);
    if (fd < 0 || ::ftruncate(fd, 4096) != 0) abort();
    ::close(fd);
    if (!shm->register_region({"r", key, 0, 4096}).ok()) abort();
    ::shm_unlink(key.c_str());
    return shm;
  }();
  return *registry;
}

void decode_and_echo(std::string_view body, std::optional<size_t> header_length) {
  auto decoded = http::decode_infer_request(body, header_length, shared_memory());
  if (!decoded.ok()) return;
  InferenceResponse echo;
  echo.model = "fuzz";
  echo.id = decoded->request.id;
  echo.outputs = decoded->request.inputs;
  auto encoded = http::encode_infer_response(echo, *decoded);
  // A tensor the decoder accepted must encode, unless it is asked into a shared memory window too small.
  if (!encoded.ok() && decoded->shared_memory_outputs.empty()) abort();
  if (!encoded.ok()) return;
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
