// Vectorized float32 row reductions: the mean of each contiguous row, accumulated in double as the
// reference does (so results agree to float rounding whatever the row length), at the widest
// instruction set the CPU has.
#pragma once

#include <cstdint>

namespace kiln::vec {

// y[r] = mean(x[r * n .. r * n + n)) for r in [0, rows); n > 0. On the calling thread.
void row_means(const float* x, float* y, int64_t rows, int64_t n);

}  // namespace kiln::vec
