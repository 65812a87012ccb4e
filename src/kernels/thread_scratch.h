// Scratch memory of the calling thread for kernels: one buffer per use (slot), so that two uses within
// one kernel run never share one, each only growing and kept between runs, so a seen shape makes no
// heap call (a tensor from the run's buffer pool would: its control block). From core/buffer_pool.h's
// allocate_block: 64-byte aligned, so the vector loops' rows start on whole cache lines (an AVX-512
// load that straddles two lines costs two), and a large buffer in huge pages.
//
// Never throws: the vector kernels call it inside OpenMP regions, which no exception may leave; they
// report nullptr as the run's error once the region is over (dnnl_kernels::thread_buffer throws
// dnnl::error instead, for the oneDNN kernels' try blocks).
#pragma once

#include <cstddef>

namespace kiln {

enum class ScratchSlot {
  kReorderedSource,       // dnnl/activation_reorders: X reordered into a primitive's layout
  kReorderedDestination,  // and Y before it is reordered back
  kColumns,               // dnnl/conv_transpose_product: the product's columns
  kImages,                // and its images side by side
  kCol2ImPhases,          // vec/col2im: the stride phases of an output plane
  kDepthwiseRing,         // vec/blocked_depthwise, vec/blocked_stem_depthwise: the ring of input rows
  kCount
};

// At least `bytes`, 64-byte aligned, contents unspecified; valid on this thread until the next call
// with the same slot. nullptr when there is no memory for it.
void* thread_scratch(ScratchSlot slot, size_t bytes) noexcept;

}  // namespace kiln
