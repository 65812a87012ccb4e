// BufferPool: recycles tensor element buffers between the runs of one execution context, so that a run
// at a shape seen before takes every buffer from the pool instead of the system allocator.
//
// Why a pool rather than a precomputed offset plan: kernels size their outputs only when they run,
// and a run releases each value after its last reader (exec/graph_plan.cc), so the set of live
// buffers already follows the values' lifetimes. What a second run at the same shapes needs is
// exactly what the first one gave back: blocks of the same sizes, in the same order. The pool keeps
// the freed blocks in size classes and hands them out again; nothing is planned per shape, so a new
// shape costs no planning either, only the system allocations for sizes the pool lacks.
//
// Bounded: a block that no run has taken or returned for idle_runs_before_release runs (by default
// kIdleRunsBeforeRelease) goes back to the system at the end of a run, so a stream of ever new shapes
// keeps only the last few runs' working sets.
//
// Threads: one thread at a time owns a pool (take, give_back, begin_run, end_run), the one that runs
// with it installed (ScopedBufferPool). Blocks may be returned from any thread at any time with
// give_back_from_any_thread, which is lock-free; the owner collects them at its next begin_run.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace kiln {

// A zero-filled, 64-byte aligned block of `bytes` from the system, or nullptr when there is no memory.
// Blocks of kMappedBlockBytes or more are mapped from the OS directly, so freeing one returns its pages:
// glibc would keep freed heap memory once its adaptive mmap threshold has risen (bert_base: 810 MiB
// peak RSS with it, 523 MiB without).
void* allocate_block(size_t bytes);
// Frees a block from allocate_block; `bytes` must be the size it was allocated with.
void free_block(void* block, size_t bytes);
inline constexpr size_t kMappedBlockBytes = size_t{256} << 10;
// Blocks of at least one x86-64 huge page start on a huge-page boundary and are backed by transparent
// huge pages where the system allows: a fresh block then costs a fault per 2 MiB, not per 4 KiB.
inline constexpr size_t kHugePageBytes = size_t{2} << 20;

class BufferPool {
 public:
  // Runs a free block may sit unused before end_run() gives it back to the system.
  static constexpr uint64_t kIdleRunsBeforeRelease = 4;

  explicit BufferPool(uint64_t idle_runs_before_release = kIdleRunsBeforeRelease)
      : idle_runs_before_release_(idle_runs_before_release) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // `bytes` rounded up to its size class: 64-byte steps up to 4 KiB, then 8 classes per power of two, so
  // at most 12.5% is wasted.
  static size_t class_bytes(size_t bytes);

  struct Block {
    void* data = nullptr;  // nullptr when the system has no memory
    size_t capacity = 0;   // what to give back with it
  };
  // A block of at least class_bytes(bytes), not zeroed: a free one of that class, else a free one of up
  // to twice that (a block idle in another class serves better than a new one: fewer bytes resident),
  // else a new one from the system. Owner thread only.
  Block take(size_t bytes);
  // Returns a block from take() with its capacity. Owner thread only.
  void give_back(void* block, size_t capacity);
  // Like give_back, from any thread, without a lock; the block is reusable after the next begin_run.
  void give_back_from_any_thread(void* block, size_t capacity);

  // Bracket one run. begin_run collects blocks returned from other threads; end_run releases blocks idle
  // for idle_runs_before_release runs. Owner only.
  void begin_run();
  void end_run();
  // Gives every free block back to the system, those returned from other threads included. Owner only.
  void release_free_blocks();

  // For tests and reports: bytes in free blocks, and blocks ever obtained from the system.
  size_t free_bytes() const { return free_bytes_; }
  int64_t system_allocations() const { return system_allocations_; }

 private:
  // A free block's first bytes hold its list node (every block is at least 64 bytes).
  struct FreeBlock {
    FreeBlock* next;
    size_t capacity;
    uint64_t last_used_run;
  };
  static constexpr size_t kNumClasses = 320;
  static constexpr size_t kLargerClassesToSearch = 8;  // 8 classes up is twice the size
  static size_t class_index(size_t capacity);
  void push_free(void* block, size_t capacity);

  const uint64_t idle_runs_before_release_;
  std::array<FreeBlock*, kNumClasses> free_{};  // per size class, most recently returned first
  std::atomic<FreeBlock*> returned_{nullptr};   // from other threads, not yet sorted into free_
  uint64_t run_ = 0;
  // No free block was last used before this run (a lower bound: taking blocks does not raise it).
  uint64_t oldest_free_run_ = UINT64_MAX;
  size_t free_bytes_ = 0;
  int64_t system_allocations_ = 0;
};

// Installs `pool` as the calling thread's pool for tensor allocations (Tensor's constructor draws from
// it) for the scope's lifetime, and brackets the scope as one run of the pool. Nests: an inner scope
// with the same pool is a no-op. The pool must not be installed on another thread meanwhile.
class ScopedBufferPool {
 public:
  explicit ScopedBufferPool(std::shared_ptr<BufferPool> pool);
  ~ScopedBufferPool();
  ScopedBufferPool(const ScopedBufferPool&) = delete;
  ScopedBufferPool& operator=(const ScopedBufferPool&) = delete;

  // The calling thread's installed pool, or nullptr.
  static const std::shared_ptr<BufferPool>* current();

 private:
  const std::shared_ptr<BufferPool>* saved_;
  std::shared_ptr<BufferPool> pool_;
  bool installed_ = false;
};

}  // namespace kiln
