#include "kernels/thread_scratch.h"

#include <algorithm>

#include "core/buffer_pool.h"

namespace kiln {

void* thread_scratch(ScratchSlot slot, size_t bytes) noexcept {
  // allocate_block's pages: a large buffer in huge pages, so growing it for a new shape costs few page
  // faults (a fresh 4 KiB page costs microseconds on a virtual machine).
  struct Buffer {
    void* data = nullptr;
    size_t bytes = 0;
    ~Buffer() { free_block(data, bytes); }
  };
  constexpr size_t kSlots = static_cast<size_t>(ScratchSlot::kCount);
  thread_local Buffer buffers[kSlots];
  Buffer& b = buffers[static_cast<size_t>(slot)];
  if (b.bytes < bytes || b.data == nullptr) {
    free_block(b.data, b.bytes);
    b.bytes = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    b.data = allocate_block(b.bytes);
    if (b.data == nullptr) b.bytes = 0;
  }
  return b.data;
}

}  // namespace kiln
