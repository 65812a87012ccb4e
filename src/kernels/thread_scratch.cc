#include "kernels/thread_scratch.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace kiln {

void* thread_scratch(ScratchSlot slot, size_t bytes) noexcept {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  constexpr size_t kPage = 4096;
  constexpr size_t kSlots = static_cast<size_t>(ScratchSlot::kCount);
  thread_local std::unique_ptr<void, Free> buffers[kSlots];
  thread_local size_t capacity[kSlots] = {};
  const size_t i = static_cast<size_t>(slot);
  if (capacity[i] < bytes || !buffers[i]) {
    const size_t rounded = (std::max<size_t>(bytes, 1) + kPage - 1) / kPage * kPage;
    buffers[i].reset(std::aligned_alloc(kPage, rounded));
    capacity[i] = buffers[i] ? rounded : 0;
  }
  return buffers[i].get();
}

}  // namespace kiln
