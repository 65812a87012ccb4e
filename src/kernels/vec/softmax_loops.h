// Vectorized float32 softmax over contiguous rows, with an additive mask row: the score tiles of
// kiln.Attention (dnnl/attention.cc), at the widest instruction set the CPU has.
#pragma once

#include <cstdint>

namespace kiln::vec {

// The mask added to row r of a tile before its softmax: mask[r * row_stride + j * col_stride] for
// column j. A stride is 0 where the mask broadcasts; col_stride is otherwise 1 (the mask's rows are
// contiguous). No data: nothing is added.
struct RowMask {
  const float* data = nullptr;
  int64_t row_stride = 0;
  int64_t col_stride = 0;
};

// For each of `rows` rows of n (> 0) values of x, in place: x += mask row, then x = softmax(x)
// (exp(x - max) / sum). A NaN anywhere in a row makes the whole row NaN, as in the reference.
// On the calling thread.
void masked_softmax_rows(float* x, int64_t rows, int64_t n, const RowMask& mask);

}  // namespace kiln::vec
