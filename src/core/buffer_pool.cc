#include "core/buffer_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace kiln {

namespace {

// A zero-filled mapping of `bytes` that starts on a huge-page boundary, with the kernel asked to back it
// by transparent huge pages (Linux's default THP mode, "madvise", does so only when asked): what a
// first run at a new shape pays for fresh memory is mostly page faults, one per 4 KiB page otherwise
// (measured on the 2-vCPU EPYC VM: 70 MiB took 225 ms of CPU with 4 KiB pages, 5 ms with huge pages).
// The mapping is exactly `bytes` long, so free_block unmaps it like any other; a tail shorter than a
// huge page stays in small pages. nullptr when there is no memory.
void* map_huge_page_aligned(size_t bytes) {
  const size_t padded = bytes + kHugePageBytes;
  void* p = mmap(nullptr, padded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  const auto base = reinterpret_cast<uintptr_t>(p);
  const uintptr_t start = (base + kHugePageBytes - 1) & ~uintptr_t{kHugePageBytes - 1};
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t end = (start + bytes + page - 1) & ~uintptr_t{page - 1};
  if (start > base) munmap(p, start - base);
  if (base + padded > end) munmap(reinterpret_cast<void*>(end), base + padded - end);
  // Advice only: where THP is off, the block works the same with small pages.
  (void)madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(start);
}

}  // namespace

void* allocate_block(size_t bytes) {
  if (bytes >= kHugePageBytes) return map_huge_page_aligned(bytes);
  if (bytes >= kMappedBlockBytes) {
    // Anonymous mappings are page-aligned and already zero.
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  const size_t rounded = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (p != nullptr) std::memset(p, 0, rounded);
  return p;
}

void free_block(void* block, size_t bytes) {
  if (block == nullptr) return;
  if (bytes >= kMappedBlockBytes) {
    munmap(block, bytes);
    return;
  }
  std::free(block);
}

size_t BufferPool::class_bytes(size_t bytes) {
  if (bytes <= 4096) return bytes <= 64 ? 64 : (bytes + 63) / 64 * 64;
  const int e = 63 - __builtin_clzll(bytes);
  const size_t step = size_t{1} << (e - 3);
  return (bytes + step - 1) & ~(step - 1);
}

size_t BufferPool::class_index(size_t capacity) {
  if (capacity <= 4096) return capacity / 64 - 1;  // 0..63
  const int e = 63 - __builtin_clzll(capacity);    // 12 and up
  const size_t sub = (capacity >> (e - 3)) - 8;    // 0..7
  return 64 + static_cast<size_t>(e - 12) * 8 + sub;
}

BufferPool::~BufferPool() { release_free_blocks(); }

void BufferPool::release_free_blocks() {
  begin_run();  // collects the blocks returned from other threads
  for (FreeBlock*& head : free_) {
    while (head != nullptr) {
      FreeBlock* b = head;
      head = b->next;
      free_block(b, b->capacity);
    }
  }
  free_bytes_ = 0;
}

BufferPool::Block BufferPool::take(size_t bytes) {
  const size_t capacity = class_bytes(bytes);
  const size_t index = class_index(capacity);
  const size_t last = std::min(kNumClasses, index + 1 + kLargerClassesToSearch);
  for (size_t i = index; i < last; ++i) {
    FreeBlock* b = free_[i];
    if (b == nullptr) continue;
    free_[i] = b->next;
    free_bytes_ -= b->capacity;
    return Block{b, b->capacity};
  }
  void* block = allocate_block(capacity);
  if (block != nullptr) ++system_allocations_;
  return Block{block, capacity};
}

void BufferPool::push_free(void* block, size_t capacity) {
  const size_t index = class_index(capacity);
  if (index >= kNumClasses) {
    free_block(block, capacity);
    return;
  }
  auto* b = static_cast<FreeBlock*>(block);
  b->capacity = capacity;
  b->last_used_run = run_;
  oldest_free_run_ = std::min(oldest_free_run_, run_);
  b->next = free_[index];
  free_[index] = b;
  free_bytes_ += capacity;
}

void BufferPool::give_back(void* block, size_t capacity) { push_free(block, capacity); }

void BufferPool::give_back_from_any_thread(void* block, size_t capacity) {
  auto* b = static_cast<FreeBlock*>(block);
  b->capacity = capacity;
  b->next = returned_.load(std::memory_order_relaxed);
  while (!returned_.compare_exchange_weak(b->next, b, std::memory_order_release, std::memory_order_relaxed)) {
  }
}

void BufferPool::begin_run() {
  ++run_;
  // Taking the whole list at once has no ABA problem: nobody else pops.
  FreeBlock* b = returned_.exchange(nullptr, std::memory_order_acquire);
  while (b != nullptr) {
    FreeBlock* next = b->next;
    push_free(b, b->capacity);
    b = next;
  }
}

void BufferPool::end_run() {
  // Nothing can have been idle long enough yet: skip the walk over every size class (a server's
  // request pool ends a run per request; walking took 2% of a tiny model's serving CPU).
  if (free_bytes_ == 0 || run_ - oldest_free_run_ < idle_runs_before_release_) return;
  uint64_t oldest = UINT64_MAX;
  for (FreeBlock*& head : free_) {
    FreeBlock** link = &head;
    while (*link != nullptr) {
      FreeBlock* b = *link;
      if (run_ - b->last_used_run >= idle_runs_before_release_) {
        *link = b->next;
        free_bytes_ -= b->capacity;
        free_block(b, b->capacity);
      } else {
        oldest = std::min(oldest, b->last_used_run);
        link = &b->next;
      }
    }
  }
  oldest_free_run_ = oldest;
}

namespace {
thread_local const std::shared_ptr<BufferPool>* current_pool = nullptr;
}  // namespace

ScopedBufferPool::ScopedBufferPool(std::shared_ptr<BufferPool> pool) : saved_(current_pool) {
  if (pool == nullptr || (saved_ != nullptr && saved_->get() == pool.get())) return;
  pool_ = std::move(pool);
  pool_->begin_run();
  current_pool = &pool_;
  installed_ = true;
}

ScopedBufferPool::~ScopedBufferPool() {
  if (!installed_) return;
  current_pool = saved_;
  pool_->end_run();
}

const std::shared_ptr<BufferPool>* ScopedBufferPool::current() { return current_pool; }

}  // namespace kiln
