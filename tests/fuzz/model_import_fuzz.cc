// Fuzzes model loading: protobuf parsing, import into the IR, opset and operator checks, planning.
// When every input has a default (or there are none), the model is also run once.
#include "kiln/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  SessionOptions options;
  options.warm_up = false;  // runs only below, when every input has a default, as before warm-ups existed
  auto session = Session::load_from_bytes(data, size, options);
  if (!session.ok()) return 0;
  for (const IoInfo& io : (*session)->inputs()) {
    if (!io.has_default && io.kind != IoInfo::Kind::kOptional) return 0;
  }
  auto outputs = (*session)->run({});
  (void)outputs;
  return 0;
}
