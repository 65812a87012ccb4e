#include "kernels/vec/thread_scratch.h"

#include <cstdlib>
#include <memory>
#include <new>

namespace kiln::vec {

float* thread_scratch(ScratchSlot slot, size_t floats) {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  constexpr size_t kSlots = static_cast<size_t>(ScratchSlot::kCount);
  thread_local std::unique_ptr<float, Free> buffers[kSlots];
  thread_local size_t capacity[kSlots] = {};
  const size_t i = static_cast<size_t>(slot);
  if (capacity[i] < floats) {
    const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    buffers[i].reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!buffers[i]) throw std::bad_alloc();
    capacity[i] = bytes / sizeof(float);
  }
  return buffers[i].get();
}

}  // namespace kiln::vec
