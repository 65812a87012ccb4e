// Sliding-window geometry shared by the convolution and pooling kernels: the kernel_shape / strides /
// pads / dilations / auto_pad / ceil_mode attributes, output-size arithmetic, and the im2col / col2im
// copies that turn a convolution into a matrix product.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/ref/common.h"

namespace kiln::ref {

enum class AutoPad { kNotSet, kValid, kSameUpper, kSameLower };

// The window attributes as written on the node; empty vectors mean "use the default".
struct WindowAttrs {
  AutoPad auto_pad = AutoPad::kNotSet;
  std::vector<int64_t> kernel_shape;
  std::vector<int64_t> strides;
  std::vector<int64_t> pads;  // [x1_begin, x2_begin, ..., x1_end, x2_end, ...]
  std::vector<int64_t> dilations;
  bool ceil_mode = false;
};

// Parses and checks the attributes (positive kernel/strides/dilations, non-negative pads, a known
// auto_pad). Lengths are checked against the spatial rank later, when the input is known.
Expected<WindowAttrs> parse_window_attrs(const ir::Node& node);

// Resolved geometry of one window operation over `spatial` dimensions.
struct WindowGeometry {
  std::vector<int64_t> in;      // input spatial sizes
  std::vector<int64_t> kernel;  // kernel sizes
  std::vector<int64_t> stride;
  std::vector<int64_t> dilation;
  std::vector<int64_t> pad_begin;
  std::vector<int64_t> pad_end;
  std::vector<int64_t> out;  // output spatial sizes
  size_t rank() const { return in.size(); }
  int64_t in_size() const;      // product of in
  int64_t out_size() const;     // product of out
  int64_t kernel_size() const;  // product of kernel
};

// Geometry of a forward window (Conv, pooling). `kernel` is the kernel's spatial shape (from the
// weights or kernel_shape). Fails when attribute lengths do not match the rank or the dilated kernel
// does not fit in the padded input.
Expected<WindowGeometry> forward_geometry(const WindowAttrs& attrs, const Shape& in_spatial,
                                          const std::vector<int64_t>& kernel);

// Floor division (numpy's //), for pad arithmetic that may go negative.
int64_t floor_div(int64_t a, int64_t b);

// ConvTranspose's attributes: the window's, the group, and the output's padding or shape.
struct ConvTransposeAttrs {
  WindowAttrs window;
  int64_t group = 1;
  std::vector<int64_t> output_padding;
  std::vector<int64_t> output_shape;  // spatial sizes, or the whole [N, M, spatial...] shape
};

// Parses and checks them (a positive group, non-negative output_padding and output_shape).
Expected<ConvTransposeAttrs> parse_conv_transpose_attrs(const ir::Node& node);

// Geometry of a ConvTranspose of X (`x`: [N, C, spatial...]) by W (`w`: [C, M/group, kernel...]):
// `in` is X's spatial shape and `out` Y's, with the begin and end padding each dimension resolves to
// (from pads, auto_pad or output_shape). Fails, naming the problem, when the shapes do not fit each
// other or the attributes, or an output size is not positive.
Expected<WindowGeometry> conv_transpose_geometry(const ConvTransposeAttrs& attrs, const Shape& x, const Shape& w);

// For each spatial dim d: table[d][k * grid[d] + g] is the image coordinate that grid position g and
// kernel tap k touch (g * stride - pad_begin + k * dilation), or -1 when it falls in the padding.
// For im2col the grid is the output and the image the input; for col2im (ConvTranspose) the reverse.
std::vector<std::vector<int64_t>> tap_tables(const std::vector<int64_t>& grid, const std::vector<int64_t>& image,
                                             const WindowGeometry& g);

// Calls fn(kernel_index, grid_offset, image_offset) for every kernel tap and grid position whose image
// coordinate lies inside the image. Offsets are flat row-major indices into one channel.
template <typename Fn>
void for_each_tap(const std::vector<int64_t>& grid, const std::vector<int64_t>& image,
                  const std::vector<int64_t>& kernel, const std::vector<std::vector<int64_t>>& tables, Fn&& fn) {
  const size_t nd = grid.size();
  const std::vector<int64_t> image_strides = strides_of(image);
  int64_t grid_total = 1, kernel_total = 1;
  for (size_t d = 0; d < nd; ++d) {
    grid_total *= grid[d];
    kernel_total *= kernel[d];
  }
  if (grid_total == 0) return;
  const int64_t inner = grid[nd - 1];
  std::vector<int64_t> k(nd, 0);
  for (int64_t ki = 0; ki < kernel_total; ++ki) {
    std::vector<int64_t> g(nd, 0);  // grid odometer over all dims but the last
    for (int64_t row = 0; row < grid_total / inner; ++row) {
      int64_t base = 0;
      bool inside = true;
      for (size_t d = 0; d + 1 < nd; ++d) {
        const int64_t c = tables[d][static_cast<size_t>(k[d] * grid[d] + g[d])];
        if (c < 0) {
          inside = false;
          break;
        }
        base += c * image_strides[d];
      }
      if (inside) {
        const int64_t* last = tables[nd - 1].data() + k[nd - 1] * inner;
        for (int64_t j = 0; j < inner; ++j) {
          if (last[j] >= 0) fn(ki, row * inner + j, base + last[j]);
        }
      }
      for (size_t d = nd - 1; d-- > 0;) {
        if (++g[d] < grid[d]) break;
        g[d] = 0;
      }
    }
    for (size_t d = nd; d-- > 0;) {
      if (++k[d] < kernel[d]) break;
      k[d] = 0;
    }
  }
}

// im2col for one image of `channels` channels: col[(c * K + k) * out + p] = x[c][tap(k, p)], 0 (the
// value padding reads as) where a tap falls in the padding. col must hold channels*K*out zeros.
template <typename Acc>
void im2col(const Acc* x, int64_t channels, const WindowGeometry& g, const std::vector<std::vector<int64_t>>& tables,
            Acc* col) {
  const int64_t in_size = g.in_size(), out_size = g.out_size(), ks = g.kernel_size();
  for (int64_t c = 0; c < channels; ++c) {
    const Acc* xc = x + c * in_size;
    Acc* cc = col + c * ks * out_size;
    for_each_tap(g.out, g.in, g.kernel, tables, [&](int64_t k, int64_t p, int64_t i) { cc[k * out_size + p] = xc[i]; });
  }
}

// Writes accumulated conv outputs [N, M, spatial...] into y, adding bias[m] (if given) to channel m;
// `out_size` is the spatial element count per channel.
template <typename T, typename Acc>
void store_with_channel_bias(const std::vector<Acc>& acc, const Tensor* bias, int64_t M, int64_t out_size, Tensor* y) {
  T* out = y->data<T>();
  for (int64_t i = 0; i < y->size(); ++i) {
    Acc v = acc[static_cast<size_t>(i)];
    if (bias != nullptr) v += static_cast<Acc>(bias->data<T>()[(i / out_size) % M]);
    out[i] = static_cast<T>(v);
  }
}

}  // namespace kiln::ref
