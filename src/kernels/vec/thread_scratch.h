// Per-thread scratch memory for the vector kernels' parallel loops: kept between runs, so a warm run
// makes no heap call (a tensor from the run's buffer pool would: its control block), and 64-byte
// aligned, so rows that start on a multiple of 16 floats load whole cache lines (an AVX-512 load that
// straddles two lines costs two). It never throws, since it is called inside OpenMP regions, which
// no exception may leave: the caller reports nullptr as the run's error once the region is over.
#pragma once

#include <cstddef>

namespace kiln::vec {

// One buffer per slot and thread; a kernel that needs two at once takes two slots.
enum class ScratchSlot { kDepthwiseRing, kCol2ImPhases, kCount };

// At least `floats` floats, 64-byte aligned, contents unspecified; valid on this thread until the
// next call with the same slot. nullptr when there is no memory for it.
float* thread_scratch(ScratchSlot slot, size_t floats) noexcept;

}  // namespace kiln::vec
