// Per-thread scratch memory for the vector kernels: kept between runs, so a warm run allocates
// nothing, and 64-byte aligned, so rows that start on a multiple of 16 floats load whole cache lines
// (an AVX-512 load that straddles two lines costs two: the depthwise kernel ran at half speed on
// malloc's 16-byte alignment).
#pragma once

#include <cstddef>

namespace kiln::vec {

// One buffer per slot and thread; a kernel that needs two at once takes two slots.
enum class ScratchSlot { kDepthwiseRing, kCol2ImPhases, kCount };

// At least `floats` floats, 64-byte aligned, contents unspecified; valid on this thread until the
// next call with the same slot.
float* thread_scratch(ScratchSlot slot, size_t floats);

}  // namespace kiln::vec
