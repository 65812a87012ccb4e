// The Vec<W> helpers are always inlined into the target-attributed loops (cpu_isa.h), so no vector
// crosses a call boundary and GCC's note about the vector-argument ABI does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "kernels/vec/softmax_loops.h"

#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/simd_math.h"

namespace kiln::vec {
namespace {

// x[j] += m[j * col_stride] for j in [0, n).
template <int W>
KILN_SIMD_INLINE void add_mask_row(float* x, int64_t n, const float* m, int64_t col_stride) {
  int64_t j = 0;
  if (col_stride == 1) {
    for (; j + W <= n; j += W) store<W>(x + j, load<W>(x + j) + load<W>(m + j));
    if (j < n) store_partial<W>(x + j, load_partial<W>(x + j, n - j) + load_partial<W>(m + j, n - j), n - j);
  } else {  // one mask value for the whole row
    const Vec<W> v = splat<W>(m[0]);
    for (; j + W <= n; j += W) store<W>(x + j, load<W>(x + j) + v);
    if (j < n) store_partial<W>(x + j, load_partial<W>(x + j, n - j) + v, n - j);
  }
}

template <int W>
KILN_SIMD_INLINE void softmax_row(float* x, int64_t n) {
  const int64_t full = n / W * W, tail = n - full;
  const Vec<W> minus_inf = splat<W>(-__builtin_inff());
  Vec<W> vmax = minus_inf;
  for (int64_t j = 0; j < full; j += W) vmax = max<W>(vmax, load<W>(x + j));
  if (tail > 0) vmax = max<W>(vmax, select<W>(first_lanes<W>(tail), load_partial<W>(x + full, tail), minus_inf));
  const Vec<W> row_max = splat<W>(reduce_max<W>(vmax));
  // Subtracting the max keeps exp's argument <= 0: no overflow, and the largest term is 1.
  Vec<W> vsum{};
  for (int64_t j = 0; j < full; j += W) {
    const Vec<W> e = exp<W>(load<W>(x + j) - row_max);
    store<W>(x + j, e);
    vsum += e;
  }
  if (tail > 0) {
    const Vec<W> e = exp<W>(load_partial<W>(x + full, tail) - row_max);
    store_partial<W>(x + full, e, tail);
    vsum += select<W>(first_lanes<W>(tail), e, Vec<W>{});
  }
  const float inv = 1.0f / reduce_add<W>(vsum);
  for (int64_t j = 0; j < full; j += W) store<W>(x + j, load<W>(x + j) * inv);
  if (tail > 0) store_partial<W>(x + full, load_partial<W>(x + full, tail) * inv, tail);
}

template <int W>
struct MaskedSoftmaxRows {
  KILN_SIMD_INLINE static void run(float* x, int64_t rows, int64_t n, const RowMask* mask) {
    for (int64_t r = 0; r < rows; ++r, x += n) {
      if (mask->data != nullptr) add_mask_row<W>(x, n, mask->data + r * mask->row_stride, mask->col_stride);
      softmax_row<W>(x, n);
    }
  }
};

}  // namespace

void masked_softmax_rows(float* x, int64_t rows, int64_t n, const RowMask& mask) {
  run_widest<MaskedSoftmaxRows>(x, rows, n, &mask);
}

}  // namespace kiln::vec
