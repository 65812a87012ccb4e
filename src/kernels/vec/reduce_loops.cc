// The Vec<W> helpers are always inlined into the target-attributed loops below, so no vector crosses
// a call boundary and GCC's note about the vector-argument ABI does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "kernels/vec/reduce_loops.h"

#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/simd_math.h"

namespace kiln::vec {
namespace {

template <int W>
using DVec [[gnu::vector_size(W * 8)]] = double;

template <int W>
struct RowMeans {
  KILN_SIMD_INLINE static void run(const float* x, float* y, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; ++r, x += n) {
      // Two accumulators hide the latency of the additions.
      DVec<W> acc0{}, acc1{};
      int64_t i = 0;
      for (; i + 2 * W <= n; i += 2 * W) {
        acc0 += __builtin_convertvector(load<W>(x + i), DVec<W>);
        acc1 += __builtin_convertvector(load<W>(x + i + W), DVec<W>);
      }
      for (; i + W <= n; i += W) acc0 += __builtin_convertvector(load<W>(x + i), DVec<W>);
      if (i < n) acc1 += __builtin_convertvector(load_partial<W>(x + i, n - i), DVec<W>);
      acc0 += acc1;
      double sum = 0;
      for (int l = 0; l < W; ++l) sum += acc0[l];
      y[r] = static_cast<float>(sum / static_cast<double>(n));
    }
  }
};

}  // namespace

void row_means(const float* x, float* y, int64_t rows, int64_t n) { run_widest<RowMeans>(x, y, rows, n); }

}  // namespace kiln::vec
