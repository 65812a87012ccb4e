// The row computation of the vector depthwise kernels (vec/blocked_depthwise.cc, with its input
// activation; vec/blocked_stem_depthwise.cc and vec/blocked_conv_depthwise.cc, with the convolution
// before it), on the blocked layout: one output row from the kernel-height input rows it reads, for one
// channel block of B lanes (depthwise_rows.cc), and the ring of input rows that feeds it. Included by
// those kernels' translation units only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/vec/cpu_isa.h"
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

// The plane of an h x w input under a square `kernel` window with `stride`, padded at both ends by
// pad_top rows and pad_left columns; nullopt where the window is larger than the padded input (the
// reference reports it).
inline std::optional<Plane> depthwise_plane(int64_t h, int64_t w, int64_t kernel, int64_t stride, int64_t pad_top,
                                            int64_t pad_left) {
  if (h + 2 * pad_top < kernel || w + 2 * pad_left < kernel) return std::nullopt;
  Plane p{h, w, 0, 0, kernel, pad_top, pad_left, 0};
  // ONNX's output size with the end padding equal to the start's (the passes require it).
  p.oh = (h + 2 * pad_top - kernel) / stride + 1;
  p.ow = (w + 2 * pad_left - kernel) / stride + 1;
  // Every column a tile reads: the last output's window, and the row itself after the left padding.
  p.ring_width = std::max((p.ow - 1) * stride + kernel, pad_left + w);
  return p;
}

// One output row of ow pixels of B lanes, activated, from the kernel-height input rows it reads
// (rows[ky] null where the kernel row falls in the padding): compiled once, in depthwise_rows.cc, for
// every instruction set, block, window (3, 5) and stride (1, 2) the kernels use, and called once per
// row. Inlined into each kernel's loops, these tiles made each kernel's file take minutes to compile
// in CI's sanitizer build. The vector width W is the caller's (at most B); W = 16 is AVX-512 code,
// W = 8 AVX2, W = 4 the baseline.
// (The declarations carry the instruction set too: GCC compiled the definitions' instances without it.)
template <int B, int KW, int S>
KILN_TARGET_AVX512 void output_row_16(const float* const* rows, int64_t kh, const float* wt, const float* bias,
                                      const RowActivation& act, int64_t ow, float* y);
template <int B, int KW, int S>
KILN_TARGET_AVX2 void output_row_8(const float* const* rows, int64_t kh, const float* wt, const float* bias,
                                   const RowActivation& act, int64_t ow, float* y);
template <int B, int KW, int S>
void output_row_4(const float* const* rows, int64_t kh, const float* wt, const float* bias, const RowActivation& act,
                  int64_t ow, float* y);

template <int W, int B, int KW, int S>
inline void output_row(const float* const* rows, int64_t kh, const float* wt, const float* bias,
                       const RowActivation& act, int64_t ow, float* y) {
  if constexpr (W == 16) {
    output_row_16<B, KW, S>(rows, kh, wt, bias, act, ow, y);
  } else if constexpr (W == 8) {
    output_row_8<B, KW, S>(rows, kh, wt, bias, act, ow, y);
  } else {
    output_row_4<B, KW, S>(rows, kh, wt, bias, act, ow, y);
  }
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
