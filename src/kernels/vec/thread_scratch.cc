#include "kernels/vec/thread_scratch.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace kiln::vec {

float* thread_scratch(ScratchSlot slot, size_t floats) noexcept {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  constexpr size_t kSlots = static_cast<size_t>(ScratchSlot::kCount);
  thread_local std::unique_ptr<float, Free> buffers[kSlots];
  thread_local size_t capacity[kSlots] = {};
  const size_t i = static_cast<size_t>(slot);
  if (capacity[i] < floats || !buffers[i]) {
    const size_t bytes = (std::max<size_t>(floats, 1) * sizeof(float) + 63) / 64 * 64;
    buffers[i].reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    capacity[i] = buffers[i] ? bytes / sizeof(float) : 0;
  }
  return buffers[i].get();
}

}  // namespace kiln::vec
