// RunPools: the BufferPools of one Session, one per concurrent run, handed out without a lock.
//
// A run leases a pool for its duration, so concurrent runs never share one (a pool has a single owner
// thread at a time; see core/buffer_pool.h). Leases scan a fixed array of slots with one atomic
// exchange each, so the common case (one run, or a few) always finds slot 0 or 1 warm from its last
// use. When every slot is busy, the run gets a fresh pool of its own that dies with its last buffer:
// correct, just not recycled.
#pragma once

#include <array>
#include <atomic>
#include <memory>

#include "core/buffer_pool.h"

namespace kiln {

class RunPools {
 public:
  static constexpr size_t kSlots = 16;

  // A pool leased until the Lease is destroyed. Movable, not copyable.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : pools_(other.pools_), slot_(other.slot_), pool_(std::move(other.pool_)) {
      other.pools_ = nullptr;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    const std::shared_ptr<BufferPool>& pool() const { return pool_; }

   private:
    friend class RunPools;
    Lease(RunPools* pools, size_t slot, std::shared_ptr<BufferPool> pool)
        : pools_(pools), slot_(slot), pool_(std::move(pool)) {}
    RunPools* pools_;  // null: an overflow pool, owned by the lease alone
    size_t slot_;
    std::shared_ptr<BufferPool> pool_;
  };

  RunPools();
  // Thread-safe and lock-free.
  Lease lease();

 private:
  std::array<std::shared_ptr<BufferPool>, kSlots> pools_;
  std::array<std::atomic<bool>, kSlots> busy_{};
};

}  // namespace kiln
