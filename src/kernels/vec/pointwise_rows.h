// The 1x1 convolution of the vector kernels on the blocked layout (vec/blocked_conv_depthwise.cc, whose
// expansion computes its rows into the depthwise kernel's ring, and vec/blocked_pointwise_conv.cc):
// a run of consecutive pixels of a group of up to 3 channel blocks of Y from all of X's channels.
// Included by those kernels' translation units only.
//
// A tile is 7 pixels x 3 blocks (21 sums): each X value is broadcast once for 3 multiply-adds and each
// weight vector loaded once for 7. Single-core, inputs in cache, GFLOP/s (microbenchmark, Zen 5, peak
// ~226): EfficientNet's and MobileNetV2's expansions 183-215 in tiles of 7 x 3 against 159-174 in
// 8 x 1 and 182-198 in 8 x 2 or 8 x 3; their projections 203-218 in 7 x 3 or 7 x 2.
//
// AVX-512 with blocks of 16 runs the tiles in intrinsics (GCC 12 compiles Vec<W>'s splat of a loaded
// float there as a scalar add and a broadcast: see the stem kernel); other widths and blocks of 8 run
// one block at a time in Vec<W> code.
#pragma once
#pragma GCC diagnostic ignored "-Wpsabi"  // Vec<W> never crosses a call: see reduce_loops.cc

#include <algorithm>
#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/vec/activate_avx512.h"
#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/packed_lanes.h"
#include "kernels/vec/row_activation.h"
#include "kernels/vec/simd_math.h"

namespace kiln::vec::pointwise {

// Weights are packed in 16-lane groups ([channel][16 lanes] per group: packed_lanes.h) whatever X's block.
inline constexpr int64_t kPackLanes = kPackedLanes;
inline constexpr int64_t kGroup = 3;  // blocks of Y per tile
inline constexpr int kTile = 7;       // pixels per tile

// Y's blocks in groups of 2 or 3 (1 only where Y has a single block), as even as possible: a tile of
// one block keeps 7 sums, too few to hide the multiply-add latency (10 blocks: 3, 3, 2, 2).
struct BlockGroups {
  int64_t count = 1, base = 1, extra = 0;
  BlockGroups() = default;  // one block
  explicit BlockGroups(int64_t blocks)
      : count((blocks + kGroup - 1) / kGroup), base(blocks / count), extra(blocks % count) {}
  int64_t first(int64_t g) const { return g * base + std::min(g, extra); }
  int64_t size(int64_t g) const { return base + (g < extra ? 1 : 0); }
};

// A run of pixels of X: pixel 0 of the run in X's first channel block; block b lies `plane` floats
// further (one image's h * w * B). c: X's channels.
struct Input {
  const float* x;
  int64_t plane, c;
};

// The blocks of Y a run computes, up to kGroup: per block q, its packed weights ([channel][16 lanes],
// offset to the block's lanes), its bias, and its sum (Y's layout: added before the activation) or
// null. Blocks of 16 lanes at AVX-512 take consecutive weight groups (c * 16 floats apart), biases (16
// apart) and sums (y_stride apart).
struct Group {
  int64_t count = 0;
  const float* w[kGroup];
  const float* b[kGroup];
  const float* sum[kGroup];
};

#if defined(__x86_64__)
// Channel kk of X's block at xb into the T x Q sums: each X value broadcast once for its Q blocks.
template <int T, int Q>
KILN_TARGET_AVX512 __attribute__((always_inline)) inline void channel16(const float* xb, const float* wb,
                                                                        int64_t w_stride, int64_t kk,
                                                                        __m512 (&acc)[Q][T]) {
  __m512 wv[Q];
#pragma GCC unroll 3
  for (int q = 0; q < Q; ++q) wv[q] = _mm512_loadu_ps(wb + q * w_stride + kk * kPackLanes);
#pragma GCC unroll 7
  for (int t = 0; t < T; ++t) {
    const __m512 xv = _mm512_set1_ps(xb[t * 16 + kk]);
#pragma GCC unroll 3
    for (int q = 0; q < Q; ++q) acc[q][t] = _mm512_fmadd_ps(xv, wv[q], acc[q][t]);
  }
}

// T pixels of Q blocks of 16 lanes from pixel x (in X's block 0): act(bias + X . W + sum).
template <int T, int Q>
KILN_TARGET_AVX512 __attribute__((always_inline)) inline void tile16(const Input& in, const float* x, const Group& g,
                                                                     const RowActivation& act, int64_t offset, float* y,
                                                                     int64_t y_stride) {
  const int64_t w_stride = in.c * kPackLanes;
  __m512 acc[Q][T];
#pragma GCC unroll 3
  for (int q = 0; q < Q; ++q) {
    const __m512 b = _mm512_loadu_ps(g.b[0] + q * 16);
#pragma GCC unroll 7
    for (int t = 0; t < T; ++t) acc[q][t] = b;
  }
  for (int64_t k0 = 0; k0 < in.c; k0 += 16) {
    const float* xb = x + k0 / 16 * in.plane;
    const float* wb = g.w[0] + k0 * kPackLanes;
    const int64_t n = std::min<int64_t>(16, in.c - k0);
    if (n == 16) {
#pragma GCC unroll 16
      for (int kk = 0; kk < 16; ++kk) channel16<T, Q>(xb, wb, w_stride, kk, acc);
    } else {
      for (int64_t kk = 0; kk < n; ++kk) channel16<T, Q>(xb, wb, w_stride, kk, acc);
    }
  }
  if (g.sum[0] != nullptr) {
#pragma GCC unroll 3
    for (int q = 0; q < Q; ++q) {
#pragma GCC unroll 7
      for (int t = 0; t < T; ++t) {
        acc[q][t] = _mm512_add_ps(acc[q][t], _mm512_loadu_ps(g.sum[0] + q * y_stride + offset + t * 16));
      }
    }
  }
#pragma GCC unroll 3
  for (int q = 0; q < Q; ++q) {
#pragma GCC unroll 7
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + q * y_stride + t * 16, activate16(act, acc[q][t]));
  }
}

// A run of n pixels of Q blocks: tiles of 7, the last overlapping the one before (it computes some
// pixels again, the same way), or one tile of a run shorter than 7.
template <int Q, int T = kTile>
KILN_TARGET_AVX512 __attribute__((always_inline)) inline void run16(const Input& in, const Group& g,
                                                                    const RowActivation& act, int64_t n, float* y,
                                                                    int64_t y_stride) {
  if constexpr (T == kTile) {
    if (n >= kTile) {
      for (int64_t p = 0;; p += kTile) {
        const int64_t p0 = std::min(p, n - kTile);
        tile16<kTile, Q>(in, in.x + p0 * 16, g, act, p0 * 16, y + p0 * 16, y_stride);
        if (p0 == n - kTile) break;
      }
      return;
    }
    return run16<Q, T - 1>(in, g, act, n, y, y_stride);
  } else if constexpr (T > 0) {
    if (n == T) return tile16<T, Q>(in, in.x, g, act, 0, y, y_stride);
    run16<Q, T - 1>(in, g, act, n, y, y_stride);
  }
}

// n pixels of a group of 16-lane blocks at AVX-512: a call per run.
KILN_TARGET_AVX512 inline void rows_avx512(const Input& in, const Group& g, const RowActivation& act, int64_t n,
                                           float* y, int64_t y_stride) {
  switch (g.count) {
    case 3:
      return run16<3>(in, g, act, n, y, y_stride);
    case 2:
      return run16<2>(in, g, act, n, y, y_stride);
    default:
      return run16<1>(in, g, act, n, y, y_stride);
  }
}
#endif

// T pixels of one block (y: [pixel][B]) for the W lanes at `lane`: bias + X . W (+ sum).
template <int W, int B, int T>
KILN_SIMD_INLINE void tile(const float* x, int64_t plane, int64_t c, const float* wt, Vec<W> bias, const float* sum,
                           int64_t lane, float* y) {
  Vec<W> acc[T];
#pragma GCC unroll 7
  for (int t = 0; t < T; ++t) acc[t] = bias;
  for (int64_t k = 0; k < c; ++k) {
    const float* xk = x + k / B * plane + k % B;
    const Vec<W> wv = load<W>(wt + k * kPackLanes + lane);
#pragma GCC unroll 7
    for (int t = 0; t < T; ++t) acc[t] += splat<W>(xk[t * B]) * wv;
  }
  if (sum != nullptr) {
#pragma GCC unroll 7
    for (int t = 0; t < T; ++t) acc[t] += load<W>(sum + t * B + lane);
  }
#pragma GCC unroll 7
  for (int t = 0; t < T; ++t) store<W>(y + t * B + lane, acc[t]);
}

template <int W, int B, int T = kTile - 1>
KILN_SIMD_INLINE void narrow(int64_t n, const float* x, int64_t plane, int64_t c, const float* wt, Vec<W> bias,
                             const float* sum, int64_t lane, float* y) {
  if constexpr (T > 0) {
    if (n == T) return tile<W, B, T>(x, plane, c, wt, bias, sum, lane, y);
    narrow<W, B, T - 1>(n, x, plane, c, wt, bias, sum, lane, y);
  }
}

// A run of n pixels of one block of B lanes, W at a time, in tiles as run16's (not activated).
template <int W, int B>
KILN_SIMD_INLINE void run_generic(const Input& in, const float* wt, const float* bias, const float* sum, int64_t n,
                                  float* y) {
  for (int64_t lane = 0; lane < B; lane += W) {
    const Vec<W> b = load<W>(bias + lane);
    if (n < kTile) {
      narrow<W, B>(n, in.x, in.plane, in.c, wt, b, sum, lane, y);
      continue;
    }
    for (int64_t p = 0;; p += kTile) {
      const int64_t p0 = std::min(p, n - kTile);
      tile<W, B, kTile>(in.x + p0 * B, in.plane, in.c, wt, b, sum == nullptr ? nullptr : sum + p0 * B, lane,
                        y + p0 * B);
      if (p0 == n - kTile) break;
    }
  }
}

// run_generic compiled once per vector width, called once per run and block, rather than inlined into
// every instantiation of the callers' loops.
#if defined(__x86_64__)
template <int B>
KILN_TARGET_AVX2 void run_8(const Input& in, const float* wt, const float* bias, const float* sum, int64_t n,
                            float* y) {
  run_generic<8, B>(in, wt, bias, sum, n, y);
}
#endif
template <int B>
void run_4(const Input& in, const float* wt, const float* bias, const float* sum, int64_t n, float* y) {
  run_generic<4, B>(in, wt, bias, sum, n, y);
}

// n pixels of every block of the group at width W (the callers' V: at most B), activated: block q's
// at y + q * y_stride.
template <int W, int B>
KILN_SIMD_INLINE void rows(const Input& in, const Group& g, const RowActivation& act, int64_t n, float* y,
                           int64_t y_stride) {
#if defined(__x86_64__)
  if constexpr (W == 16 && B == 16) {
    return rows_avx512(in, g, act, n, y, y_stride);
  }
#endif
  for (int64_t q = 0; q < g.count; ++q) {
    float* out = y + q * y_stride;
#if defined(__x86_64__)
    if constexpr (W == 8) {
      run_8<B>(in, g.w[q], g.b[q], g.sum[q], n, out);
    } else {
      run_4<B>(in, g.w[q], g.b[q], g.sum[q], n, out);
    }
#else
    run_generic<W, B>(in, g.w[q], g.b[q], g.sum[q], n, out);
#endif
    activate_row(act, out, n * B);
  }
}

}  // namespace kiln::vec::pointwise
