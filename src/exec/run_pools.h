// RunPools: the BufferPools of one Session, one per concurrent run, handed out without a lock.
//
// A run leases a pool for its duration, so concurrent runs never share one (a pool has a single owner
// thread at a time; see core/buffer_pool.h). Leases scan a fixed array of slots with one atomic
// exchange each, so the common case (one run, or a few) always finds slot 0 or 1 warm from its last
// use. When every slot is busy, the run gets a fresh pool of its own that dies with its last buffer:
// correct, just not recycled.
//
// A pool only trims itself when it runs, so a pool left idle after a burst of concurrent runs would keep
// its working set for good. Each lease therefore also looks at one other slot, round robin, and empties
// its pool when no run has leased it for kIdleLeasesBeforeEmpty leases of the session.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "core/buffer_pool.h"

namespace kiln {

class RunPools {
 public:
  static constexpr size_t kSlots = 16;
  static constexpr uint64_t kIdleLeasesBeforeEmpty = 64;

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

  // Blocks the slots' pools have taken from the system so far, in all. Reads what the pools' owners
  // write: only for a caller that runs nothing meanwhile (the warm-up at load).
  int64_t system_allocations() const;

 private:
  // Empties slot's pool if it has been idle long enough and nobody holds it. Lock-free.
  void empty_if_idle(size_t slot, uint64_t now);

  std::array<std::shared_ptr<BufferPool>, kSlots> pools_;
  std::array<std::atomic<bool>, kSlots> busy_{};
  std::array<std::atomic<uint64_t>, kSlots> last_lease_{};  // value of leases_ when each was last leased
  std::atomic<uint64_t> leases_{0};
};

}  // namespace kiln
