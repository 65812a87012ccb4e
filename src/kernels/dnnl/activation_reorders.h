// A primitive that runs on activations in a layout of its own choosing (format_tag::any) while the
// caller holds them in ONNX's plain layout: X is reordered into the primitive's layout before it runs
// and Y out of its layout after, through buffers of the calling thread that only grow. The Conv and
// ConvTranspose kernels use it where oneDNN 2.6 has fast implementations only for blocked activations
// (grouped and depthwise convolutions, deconvolutions).
#pragma once

#include <cstddef>
#include <oneapi/dnnl/dnnl.hpp>

#include "kernels/dnnl/run_memories.h"

namespace kiln::dnnl_kernels {

class ActivationReorders {
 public:
  // For a primitive whose source and destination are `src` and `dst`, where the caller has
  // `src_plain` and `dst_plain`. Either pair may match, and then needs no reorder. Throws dnnl::error.
  ActivationReorders(const dnnl::memory::desc& src, const dnnl::memory::desc& src_plain, const dnnl::memory::desc& dst,
                     const dnnl::memory::desc& dst_plain);
  ActivationReorders(const ActivationReorders&) = delete;
  ActivationReorders& operator=(const ActivationReorders&) = delete;

  // One run's memories in the primitive's layouts, over this thread's buffers (made once per entry and
  // pointed at them: a seen shape allocates nothing).
  class Run {
   public:
    explicit Run(const ActivationReorders& r) : r_(r), memories_(r.memories_) {}
    // The primitive's source: `plain` itself, or its copy in the primitive's layout. Throws dnnl::error.
    const dnnl::memory& source(const dnnl::memory& plain);
    // Where the primitive writes: `plain` itself, or a buffer that finish() copies into `plain`.
    const dnnl::memory& destination(const dnnl::memory& plain);
    // After the primitive ran: the destination into `plain`. Throws dnnl::error.
    void finish(const dnnl::memory& plain);

   private:
    const ActivationReorders& r_;
    RunMemories<2>::Lease memories_;
    const dnnl::memory* written_ = nullptr;
  };

 private:
  static constexpr size_t kSourceSlot = 0, kDestinationSlot = 1;
  dnnl::memory::desc src_, dst_;
  dnnl::reorder to_src_, from_dst_;
  bool reorder_src_ = false, reorder_dst_ = false;
  size_t src_scratchpad_ = 0, dst_scratchpad_ = 0;
  RunMemories<2> memories_;
};

}  // namespace kiln::dnnl_kernels
