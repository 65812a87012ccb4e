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
KILN_SIMD_INLINE void means(const float* x, float* y, int64_t rows, int64_t n) {
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

KILN_TARGET_AVX512 void means_avx512(const float* x, float* y, int64_t rows, int64_t n) { means<16>(x, y, rows, n); }
KILN_TARGET_AVX2 void means_avx2(const float* x, float* y, int64_t rows, int64_t n) { means<8>(x, y, rows, n); }
void means_sse2(const float* x, float* y, int64_t rows, int64_t n) { means<4>(x, y, rows, n); }

}  // namespace

void row_means(const float* x, float* y, int64_t rows, int64_t n) {
  switch (detected_isa()) {
    case Isa::kAvx512:
      return means_avx512(x, y, rows, n);
    case Isa::kAvx2:
      return means_avx2(x, y, rows, n);
    case Isa::kSse2:
      return means_sse2(x, y, rows, n);
  }
}

}  // namespace kiln::vec
