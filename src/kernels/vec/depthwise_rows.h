// The row computation of the vector depthwise kernels (vec/blocked_depthwise.cc, with its input
// activation; vec/blocked_stem_depthwise.cc and vec/blocked_conv_depthwise.cc, with the convolution
// before it), on the blocked layout: one output row from the kernel-height input rows it reads, for one
// channel block of B lanes, and the ring of input rows that feeds it. Included by those kernels'
// translation units only; everything is inlined into their loops, which cpu_isa.h compiles once per
// instruction set.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/vec/packed_lanes.h"
#include "kernels/vec/row_activation.h"
#include "kernels/vec/simd_math.h"
#include "kernels/vec/unary_loops.h"

namespace kiln::vec::depthwise {

// Weights are packed in 16-lane groups whatever X's block (packed_lanes.h).
inline constexpr int64_t kPackLanes = kPackedLanes;

// SiLU over a row, at the widest instruction set (unary_apply: AVX-512 has a SiLU loop of its own).
// Called per row, which is in L1: a call for a few hundred elements.
inline void silu_row(const float* x, float* y, int64_t n) { unary_apply(UnaryFn{UnaryOp::kSwish}, x, y, n); }

// One plane's geometry (output sizes, kernel height, padding at the start) and the ring's row length.
struct Plane {
  int64_t h, w, oh, ow, kh, pad_top, pad_left, ring_width;
};

// Relu and Clip cost a compare and a blend per bound: the depthwise tiles apply them to their sums
// before storing them, where a pass over the output row took 3.9% of mobilenet_v2's time (perf
// samples, 1 thread, batch 1) and now nothing measurable. SiLU stays a pass over the row in L1
// (unary_apply's AVX-512 SiLU takes instructions that Vec<W> code cannot name).
inline bool in_registers(const RowActivation& a) { return a.active && a.fn.op != UnaryOp::kSwish; }

template <int W>
KILN_SIMD_INLINE Vec<W> clamp_in_registers(const RowActivation& a, Vec<W> v) {
  if (a.fn.op == UnaryOp::kRelu) return select<W>(v < 0.0f, splat<W>(0.0f), v);  // NaN and -0 pass
  return clamp<W>(v, a.fn.alpha, a.fn.beta);
}

// T outputs of one output row (at input column x0 of each ring row), for the W lanes at `lane` of
// every pixel: acc = bias + sum over kernel taps, clamped if `act` is applied in registers; rows[ky] is null where the
// kernel row falls in the padding. Loads the (T - 1) * S + KW inputs of a kernel row once for its KW columns.
template <int W, int B, int T, int KW, int S>
KILN_SIMD_INLINE void tile(const float* const* rows, int64_t kh, const float* wt, Vec<W> bias, const RowActivation& act,
                           int64_t lane, int64_t x0, float* y) {
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
  for (int t = 0; t < T; ++t) acc[t] = in_registers(act) ? clamp_in_registers<W>(act, acc[t]) : acc[t];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) store<W>(y + t * B + lane, acc[t]);
}

// The tile of a row's last n (< 8) pixels, its width a compile-time constant: tile<..., T> for T = n.
template <int W, int B, int KW, int S, int T = 7>
KILN_SIMD_INLINE void tail_tile(int64_t n, const float* const* rows, int64_t kh, const float* wt, Vec<W> bias,
                                const RowActivation& act, int64_t lane, int64_t x0, float* y) {
  if constexpr (T > 0) {
    if (n == T) return tile<W, B, T, KW, S>(rows, kh, wt, bias, act, lane, x0, y);
    tail_tile<W, B, KW, S, T - 1>(n, rows, kh, wt, bias, act, lane, x0, y);
  }
}

// One output row of ow pixels, activated (SiLU as a pass over the row while it is in L1).
template <int W, int B, int KW, int S>
KILN_SIMD_INLINE void output_row(const float* const* rows, int64_t kh, const float* wt, const float* bias,
                                 const RowActivation& act, int64_t ow, float* y) {
  for (int64_t lane = 0; lane < B; lane += W) {
    const Vec<W> b = load<W>(bias + lane);
    int64_t x = 0;
    for (; x + 8 <= ow; x += 8) tile<W, B, 8, KW, S>(rows, kh, wt, b, act, lane, x * S, y + x * B);
    // The rest in one tile, with as many independent sums as pixels: 4 + 2 + 1 tiles for a row of 7
    // left the FMA units waiting on each other's sums (MobileNet's 7x7 planes: 0.012 -> 0.010 ms).
    tail_tile<W, B, KW, S>(ow - x, rows, kh, wt, b, act, lane, x * S, y + x * B);
  }
  if (act.active && !in_registers(act)) activate_row(act, y, ow * B);
}

// Planes (channel blocks of one image) whose input rows are made together: plane q's depthwise
// weights, bias and output.
inline constexpr int kMaxRingPlanes = 3;
struct RingPlanes {
  int64_t count = 1;  // at most kMaxRingPlanes
  const float* dw_w[kMaxRingPlanes];
  const float* dw_b[kMaxRingPlanes];
  float* y[kMaxRingPlanes];  // [oh][ow][B]
};

// Output rows [oy0, oy1) of `planes` of a depthwise convolution whose input rows are made on demand:
// make_rows(iy, row, plane_stride) writes input row iy of every plane (p.w pixels of B lanes,
// activated; plane q's at row + q * plane_stride) into a slot of `ring`, which holds p.kh slots of
// planes.count rows of p.ring_width pixels whose columns outside [pad_left, pad_left + p.w) are zero.
// Each input row is made once per call; each output row is activated as output_row does.
template <int W, int B, int KD, int SD, class MakeRows>
KILN_SIMD_INLINE void ring_plane_rows(const Plane& p, const RingPlanes& planes, MakeRows&& make_rows,
                                      const RowActivation& dw_act, int64_t oy0, int64_t oy1, float* ring) {
  const int64_t plane_stride = p.ring_width * B, slot_stride = planes.count * plane_stride;
  int64_t ring_rows[KD];
  for (int64_t i = 0; i < p.kh; ++i) ring_rows[i] = -1;
  const float* rows[KD];
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      const int64_t iy = oy * SD - p.pad_top + ky;
      if (iy < 0 || iy >= p.h) {
        rows[ky] = nullptr;
        continue;
      }
      const int64_t slot = iy % p.kh;
      float* r = ring + slot * slot_stride;
      if (ring_rows[slot] != iy) {
        make_rows(iy, r + p.pad_left * B, plane_stride);
        ring_rows[slot] = iy;
      }
      rows[ky] = r;
    }
    for (int64_t q = 0; q < planes.count; ++q) {
      const float* plane_rows[KD];
      for (int64_t ky = 0; ky < p.kh; ++ky)
        plane_rows[ky] = rows[ky] == nullptr ? nullptr : rows[ky] + q * plane_stride;
      output_row<W, B, KD, SD>(plane_rows, p.kh, planes.dw_w[q], planes.dw_b[q], dw_act, p.ow,
                               planes.y[q] + oy * p.ow * B);
    }
  }
}

}  // namespace kiln::vec::depthwise
