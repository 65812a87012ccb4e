// The row computation of the vector depthwise kernels (vec/blocked_depthwise.cc, with its input
// activation, and vec/blocked_stem_depthwise.cc, with the stem convolution before it), on the blocked
// layout: one output row from the kernel-height input rows it reads, for one channel block of B lanes.
// Included by those kernels' translation units only; everything is inlined into their loops, which
// cpu_isa.h compiles once per instruction set.
#pragma once

#include <cstdint>

#include "kernels/vec/simd_math.h"
#include "kernels/vec/unary_loops.h"

namespace kiln::vec::depthwise {

// Weights are packed in 16-lane groups whatever X's block.
inline constexpr int64_t kPackLanes = 16;

// SiLU over a row, at the widest instruction set (unary_apply: AVX-512 has a SiLU loop of its own).
// Called per row, which is in L1: a call for a few hundred elements.
inline void silu_row(const float* x, float* y, int64_t n) { unary_apply(UnaryFn{UnaryOp::kSwish}, x, y, n); }

// One plane's geometry (output sizes, kernel height, padding at the start) and the ring's row length.
struct Plane {
  int64_t h, w, oh, ow, kh, pad_top, pad_left, ring_width;
};

// T outputs of one output row (at input column x0 of each ring row), for the W lanes at `lane` of
// every pixel: acc = bias + sum over kernel taps; rows[ky] is null where the kernel row falls in the
// padding. Loads the (T - 1) * S + KW inputs of a kernel row once for its KW columns.
template <int W, int B, int T, int KW, int S>
KILN_SIMD_INLINE void tile(const float* const* rows, int64_t kh, const float* wt, Vec<W> bias, int64_t lane, int64_t x0,
                           float* y) {
  constexpr int kInputs = (T - 1) * S + KW;
  Vec<W> acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = bias;
  for (int64_t ky = 0; ky < kh; ++ky) {
    if (rows[ky] == nullptr) continue;
    const float* r = rows[ky] + x0 * B + lane;
    Vec<W> in[kInputs];
#pragma GCC unroll 24
    for (int i = 0; i < kInputs; ++i) in[i] = load<W>(r + i * B);
#pragma GCC unroll 5
    for (int kx = 0; kx < KW; ++kx) {
      const Vec<W> wv = load<W>(wt + (ky * KW + kx) * kPackLanes + lane);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) acc[t] += wv * in[t * S + kx];
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) store<W>(y + t * B + lane, acc[t]);
}

// The tile of a row's last n (< 8) pixels, its width a compile-time constant: tile<..., T> for T = n.
template <int W, int B, int KW, int S, int T = 7>
KILN_SIMD_INLINE void tail_tile(int64_t n, const float* const* rows, int64_t kh, const float* wt, Vec<W> bias,
                                int64_t lane, int64_t x0, float* y) {
  if constexpr (T > 0) {
    if (n == T) return tile<W, B, T, KW, S>(rows, kh, wt, bias, lane, x0, y);
    tail_tile<W, B, KW, S, T - 1>(n, rows, kh, wt, bias, lane, x0, y);
  }
}

// One output row of ow pixels.
template <int W, int B, int KW, int S>
KILN_SIMD_INLINE void output_row(const float* const* rows, int64_t kh, const float* wt, const float* bias, int64_t ow,
                                 float* y) {
  for (int64_t lane = 0; lane < B; lane += W) {
    const Vec<W> b = load<W>(bias + lane);
    int64_t x = 0;
    for (; x + 8 <= ow; x += 8) tile<W, B, 8, KW, S>(rows, kh, wt, b, lane, x * S, y + x * B);
    // The rest in one tile, with as many independent sums as pixels: 4 + 2 + 1 tiles for a row of 7
    // left the FMA units waiting on each other's sums (MobileNet's 7x7 planes: 0.012 -> 0.010 ms).
    tail_tile<W, B, KW, S>(ow - x, rows, kh, wt, b, lane, x * S, y + x * B);
  }
}

}  // namespace kiln::vec::depthwise
