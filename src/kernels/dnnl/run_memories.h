// The dnnl::memory objects one cached primitive runs on, made once with the entry and pointed at each
// run's buffers (set_data_handle), so a run creates none: oneDNN 2.6 allocates twice per memory it
// creates (the object and its storage), and a batch-1 CNN runs about fifty convolutions a millisecond.
//
// One run at a time holds an entry's memories; a run that finds them taken (another thread on the same
// shape) wraps its own for that call, as every run did before. Setting a handle zero-fills a blocked
// layout's padding lanes exactly as creating the memory over that buffer would.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>

#include "kernels/dnnl/common.h"

namespace kiln::dnnl_kernels {

template <size_t N>
class RunMemories {
 public:
  RunMemories() = default;
  RunMemories(const RunMemories&) = delete;
  RunMemories& operator=(const RunMemories&) = delete;

  // Makes slot i a memory of layout `md` with no buffer yet. Call while building the entry, before any
  // run sees it. Throws dnnl::error.
  void init(size_t i, const dnnl::memory::desc& md) {
    mds_[i] = md;
    memories_[i] = dnnl::memory(md, cpu_engine(), DNNL_MEMORY_NONE);
  }

  // The memories for one run: the entry's when free, else the lease's own. Not copyable; releases the
  // entry's memories when it goes out of scope.
  class Lease {
   public:
    explicit Lease(const RunMemories& m) : m_(m), shared_(!m.busy_.exchange(true, std::memory_order_acquire)) {}
    ~Lease() {
      if (shared_) m_.busy_.store(false, std::memory_order_release);
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    // Slot i over `data` (which must outlive the run). Throws dnnl::error.
    const dnnl::memory& bind(size_t i, const void* data) {
      if (shared_) {
        m_.memories_[i].set_data_handle(const_cast<void*>(data));
        return m_.memories_[i];
      }
      own_[i] = wrap(m_.mds_[i], data);
      return own_[i];
    }

   private:
    const RunMemories& m_;
    const bool shared_;
    std::array<dnnl::memory, N> own_;
  };

 private:
  std::array<dnnl::memory::desc, N> mds_;
  mutable std::array<dnnl::memory, N> memories_;  // used only under a Lease holding busy_
  mutable std::atomic<bool> busy_{false};
};

}  // namespace kiln::dnnl_kernels
