// A process-wide count of the runs fast kernels handed to their reference kernel (an input they do
// not take, or a shape their library has no fast implementation for). The op tests read it to check
// that the cases meant for a fast path take it, rather than comparing the reference with itself.
#pragma once

#include <cstdint>

namespace kiln {

void count_reference_fallback();
int64_t reference_fallbacks();

}  // namespace kiln
