// The Vec<W> helpers are always inlined into the target-attributed loops (cpu_isa.h), so no vector
// crosses a call boundary and GCC's note about the vector-argument ABI does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "kernels/vec/layer_norm_loops.h"

#include <cmath>

#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/simd_math.h"

namespace kiln::vec {
namespace {

// One row, in L1 from the first pass on (BERT's is 3 KiB): x (a + b, written to `sum`, or a itself)
// with the sum of x - shift, then the sum of (x - mean)^2, then y. Tails run as one partial vector
// whose padding lanes are kept out of the sums. `sum` may be y: each y[j] is written after x[j] is read.
template <int W>
KILN_SIMD_INLINE void normalize_row(const float* a, const float* b, const float* scale, const float* bias, float* y,
                                    float* sum, int64_t n, float epsilon) {
  const int64_t full = n / W * W, tail = n - full;
  const IVec<W> tail_lanes = first_lanes<W>(tail);
  // A row far from 0 (mean 100, spread 1) would lose most of its spread's digits in a plain float sum.
  const float shift = b != nullptr ? a[0] + b[0] : a[0];
  const Vec<W> vshift = splat<W>(shift);
  Vec<W> acc{};
  if (b != nullptr) {
    for (int64_t j = 0; j < full; j += W) {
      const Vec<W> s = load<W>(a + j) + load<W>(b + j);
      store<W>(sum + j, s);
      acc += s - vshift;
    }
    if (tail > 0) {
      const Vec<W> s = load_partial<W>(a + full, tail) + load_partial<W>(b + full, tail);
      store_partial<W>(sum + full, s, tail);
      acc += select<W>(tail_lanes, s - vshift, Vec<W>{});
    }
  } else {
    for (int64_t j = 0; j < full; j += W) acc += load<W>(a + j) - vshift;
    if (tail > 0) acc += select<W>(tail_lanes, load_partial<W>(a + full, tail) - vshift, Vec<W>{});
  }
  const float* x = b != nullptr ? sum : a;
  const float mean = shift + reduce_add<W>(acc) / static_cast<float>(n);
  const Vec<W> vmean = splat<W>(mean);
  acc = Vec<W>{};
  for (int64_t j = 0; j < full; j += W) {
    const Vec<W> d = load<W>(x + j) - vmean;
    acc += d * d;
  }
  if (tail > 0) {
    const Vec<W> d = select<W>(tail_lanes, load_partial<W>(x + full, tail) - vmean, Vec<W>{});
    acc += d * d;
  }
  const Vec<W> inv = splat<W>(1.0f / std::sqrt(reduce_add<W>(acc) / static_cast<float>(n) + epsilon));
  for (int64_t j = 0; j < full; j += W) {
    Vec<W> v = (load<W>(x + j) - vmean) * inv * load<W>(scale + j);
    if (bias != nullptr) v += load<W>(bias + j);
    store<W>(y + j, v);
  }
  if (tail > 0) {
    Vec<W> v = (load_partial<W>(x + full, tail) - vmean) * inv * load_partial<W>(scale + full, tail);
    if (bias != nullptr) v += load_partial<W>(bias + full, tail);
    store_partial<W>(y + full, v, tail);
  }
}

template <int W>
struct LayerNormLoop {
  KILN_SIMD_INLINE static void run(const LayerNormRows* job) {
    const int64_t n = job->n;
    for (int64_t r = 0; r < job->rows; ++r) {
      const float* b = job->b != nullptr ? job->b + r * n : nullptr;
      float* y = job->y + r * n;
      // Without a Sum output, a + b goes through y itself.
      float* sum = job->sum != nullptr ? job->sum + r * n : y;
      normalize_row<W>(job->a + r * n, b, job->scale, job->bias, y, sum, n, job->epsilon);
    }
  }
};

}  // namespace

void layer_norm_rows(const LayerNormRows& job) { run_widest<LayerNormLoop>(&job); }

}  // namespace kiln::vec
