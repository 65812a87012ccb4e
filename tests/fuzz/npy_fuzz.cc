// Fuzzes the .npy reader. Whatever parses must serialize and parse back to the same tensor, so the
// writer is checked too.
#include <cstdlib>
#include <cstring>

#include "onnx/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  auto t = onnx_io::parse_npy(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.npy");
  if (!t.ok()) return 0;
  auto bytes = onnx_io::serialize_npy(*t);
  if (!bytes.ok()) abort();
  auto back = onnx_io::parse_npy(*bytes, "roundtrip.npy");
  if (!back.ok() || back->dtype() != t->dtype() || back->shape() != t->shape()) abort();
  if (t->dtype() == DataType::kString) {
    for (int64_t i = 0; i < t->size(); ++i) {
      if (t->data<std::string>()[i] != back->data<std::string>()[i]) abort();
    }
  } else if (t->bytes() > 0 && std::memcmp(t->raw(), back->raw(), t->bytes()) != 0) {
    abort();
  }
  return 0;
}
