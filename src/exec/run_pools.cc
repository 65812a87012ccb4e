#include "exec/run_pools.h"

namespace kiln {

RunPools::RunPools() {
  for (auto& p : pools_) p = std::make_shared<BufferPool>();
}

RunPools::Lease RunPools::lease() {
  const uint64_t now = leases_.fetch_add(1, std::memory_order_relaxed) + 1;
  empty_if_idle(static_cast<size_t>(now % kSlots), now);
  for (size_t i = 0; i < kSlots; ++i) {
    if (!busy_[i].load(std::memory_order_relaxed) && !busy_[i].exchange(true, std::memory_order_acquire)) {
      last_lease_[i].store(now, std::memory_order_relaxed);
      return Lease(this, i, pools_[i]);
    }
  }
  return Lease(nullptr, 0, std::make_shared<BufferPool>());
}

int64_t RunPools::system_allocations() const {
  int64_t n = 0;
  for (const auto& p : pools_) n += p->system_allocations();
  return n;
}

void RunPools::empty_if_idle(size_t slot, uint64_t now) {
  if (now - last_lease_[slot].load(std::memory_order_relaxed) < kIdleLeasesBeforeEmpty) return;
  if (busy_[slot].load(std::memory_order_relaxed) || busy_[slot].exchange(true, std::memory_order_acquire)) return;
  pools_[slot]->release_free_blocks();  // holding the slot makes this thread the pool's owner
  last_lease_[slot].store(now, std::memory_order_relaxed);
  busy_[slot].store(false, std::memory_order_release);
}

RunPools::Lease::~Lease() {
  if (pools_ != nullptr) pools_->busy_[slot_].store(false, std::memory_order_release);
}

}  // namespace kiln
