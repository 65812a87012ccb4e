#pragma GCC diagnostic ignored "-Wpsabi"  // Vec<W> never crosses a call: see reduce_loops.cc

#include "kernels/vec/col2im.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "kernels/ref/window.h"
#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/simd_math.h"

namespace kiln::vec {
namespace {

Col2Im::Axis axis_layout(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad) {
  Col2Im::Axis a;
  int64_t lo = 0, hi = 0;
  for (int64_t k = 0; k < kernel; ++k) {
    const int64_t base = ref::floor_div(k * dilation - pad, stride);
    lo = std::min(lo, base);
    hi = std::max(hi, base);
  }
  a.margin = -lo;
  a.slots = std::max((out + stride - 1) / stride, hi + in) + a.margin;
  for (int64_t k = 0; k < kernel; ++k) {
    const int64_t off = k * dilation - pad, base = ref::floor_div(off, stride);
    a.slot_of_tap.push_back(base + a.margin);
    a.phase_of_tap.push_back(off - base * stride);
  }
  return a;
}

// p[i] += c[i] for i in [0, n): W lanes, then narrower vectors (rows of 4 or 8 are common), then scalars.
template <int W>
KILN_SIMD_INLINE void add_row(float* p, const float* c, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) store<W>(p + i, load<W>(p + i) + load<W>(c + i));
  if constexpr (W >= 8) {
    if (i + W / 2 <= n) {
      store<W / 2>(p + i, load<W / 2>(p + i) + load<W / 2>(c + i));
      i += W / 2;
    }
  }
  if constexpr (W >= 16) {
    if (i + 4 <= n) {
      store<4>(p + i, load<4>(p + i) + load<4>(c + i));
      i += 4;
    }
  }
  for (; i < n; ++i) p[i] += c[i];
}

// a[0], b[0], a[1], b[1], ... over the low halves of a and b (zip), or over the high halves (zip_high).
template <int W, int64_t... I>
KILN_SIMD_INLINE Vec<W> zip(Vec<W> a, Vec<W> b, std::integer_sequence<int64_t, I...>) {
  return __builtin_shufflevector(a, b, (I % 2 == 0 ? I / 2 : W + I / 2)...);
}
template <int W, int64_t... I>
KILN_SIMD_INLINE Vec<W> zip_high(Vec<W> a, Vec<W> b, std::integer_sequence<int64_t, I...>) {
  return __builtin_shufflevector(a, b, (I % 2 == 0 ? W / 2 + I / 2 : W + W / 2 + I / 2)...);
}

// row[2j] = even[j], row[2j + 1] = odd[j] for the n output columns of a stride-2 row.
template <int W>
KILN_SIMD_INLINE void interleave_two(const float* even, const float* odd, float* row, int64_t n) {
  int64_t j = 0;
  for (; 2 * (j + W) <= n; j += W) {
    const Vec<W> a = load<W>(even + j), b = load<W>(odd + j);
    store<W>(row + 2 * j, zip<W>(a, b, std::make_integer_sequence<int64_t, W>()));
    store<W>(row + 2 * j + W, zip_high<W>(a, b, std::make_integer_sequence<int64_t, W>()));
  }
  for (int64_t ox = 2 * j; ox < n; ++ox) row[ox] = (ox % 2 == 0 ? even : odd)[ox / 2];
}

template <int W>
struct Col2ImLoop {
  KILN_SIMD_INLINE static void run(const float* col, const float* bias, float* y, const Col2ImGeometry* geometry,
                                   const Col2Im::Axis* rows, const Col2Im::Axis* columns, int64_t begin, int64_t end,
                                   float* phases) {
    const Col2ImGeometry& g = *geometry;
    const Col2Im::Axis &ra = *rows, &ca = *columns;
    const int64_t sh = g.stride_h, sw = g.stride_w, phase_plane = ra.slots * ca.slots;
    const int64_t all = sh * sw * phase_plane;
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t n = plane / g.channels, m = plane % g.channels;
      const Vec<W> b = splat<W>(bias ? bias[m] : 0.0f);
      int64_t i = 0;
      for (; i + W <= all; i += W) store<W>(phases + i, b);
      for (; i < all; ++i) phases[i] = b[0];
      const float* taps = col + n * g.image_stride + m * g.kernel_h * g.kernel_w * g.row_stride;
      for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
        const size_t y_tap = static_cast<size_t>(ky);
        for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
          const size_t x_tap = static_cast<size_t>(kx);
          float* to = phases + (ra.phase_of_tap[y_tap] * sw + ca.phase_of_tap[x_tap]) * phase_plane +
                      ra.slot_of_tap[y_tap] * ca.slots + ca.slot_of_tap[x_tap];
          const float* from = taps + (ky * g.kernel_w + kx) * g.row_stride;
          for (int64_t iy = 0; iy < g.in_h; ++iy) add_row<W>(to + iy * ca.slots, from + iy * g.in_w, g.in_w);
        }
      }
      for (int64_t oy = 0; oy < g.out_h; ++oy) {
        // Phase (oy % sh, 0)'s row for oy; phase (oy % sh, px) is px planes further.
        const float* first = phases + oy % sh * sw * phase_plane + (oy / sh + ra.margin) * ca.slots + ca.margin;
        float* row = y + (plane * g.out_h + oy) * g.out_w;
        if (sw == 1) {
          std::copy(first, first + g.out_w, row);
        } else if (sw == 2) {
          interleave_two<W>(first, first + phase_plane, row, g.out_w);
        } else {
          for (int64_t ox = 0; ox < g.out_w; ++ox) row[ox] = first[ox % sw * phase_plane + ox / sw];
        }
      }
    }
  }
};

}  // namespace

Col2Im::Col2Im(const Col2ImGeometry& g)
    : g_(g),
      rows_(axis_layout(g.in_h, g.out_h, g.kernel_h, g.stride_h, g.dilation_h, g.pad_top)),
      columns_(axis_layout(g.in_w, g.out_w, g.kernel_w, g.stride_w, g.dilation_w, g.pad_left)) {}

void Col2Im::run(const float* col, const float* bias, float* y, int64_t begin, int64_t end, float* phases) const {
  run_widest<Col2ImLoop>(col, bias, y, &g_, &rows_, &columns_, begin, end, phases);
}

}  // namespace kiln::vec
