#include "exec/run_pools.h"

namespace kiln {

RunPools::RunPools() {
  for (auto& p : pools_) p = std::make_shared<BufferPool>();
}

RunPools::Lease RunPools::lease() {
  for (size_t i = 0; i < kSlots; ++i) {
    if (!busy_[i].load(std::memory_order_relaxed) && !busy_[i].exchange(true, std::memory_order_acquire)) {
      return Lease(this, i, pools_[i]);
    }
  }
  return Lease(nullptr, 0, std::make_shared<BufferPool>());
}

RunPools::Lease::~Lease() {
  if (pools_ != nullptr) pools_->busy_[slot_].store(false, std::memory_order_release);
}

}  // namespace kiln
