// What the two oneDNN convolution kernels share: conv.cc (ONNX's plain NC(D)HW activations) and
// blocked_conv.cc (kiln's blocked nChw8c / nChw16c ones). The call geometry in oneDNN's terms, the nominal
// shape constant weights are first packed for, the primitive attributes with the fused activation,
// and one-off weight reorders.
#pragma once

#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <string>

#include "kernels/dnnl/common.h"
#include "kernels/dnnl/packed_weights.h"
#include "kernels/ref/window.h"

namespace kiln::dnnl_kernels {

// Geometry of one convolution call: logical NC(D)HW dims (the layout is the descriptors' business).
// Weights are [M, C/G, k...] for group 1 and [G, M/G, C/G, k...] otherwise (the same memory).
struct ConvGeometry {
  dnnl::memory::dims src, weights, bias, dst, strides, dilates, pad_l, pad_r;
  bool has_bias = false;
};

// Appends the spatial part of kiln's window geometry to a oneDNN (de)convolution geometry `s` (any
// struct with dst, strides, dilates, pad_l and pad_r dims): output sizes, strides, dilations (oneDNN
// counts the gaps, ONNX the step) and paddings.
template <typename Geometry>
void append_window(const ref::WindowGeometry& g, Geometry* s) {
  for (size_t d = 0; d < g.rank(); ++d) {
    s->dst.push_back(g.out[d]);
    s->strides.push_back(g.stride[d]);
    s->dilates.push_back(g.dilation[d] - 1);
    s->pad_l.push_back(g.pad_begin[d]);
    s->pad_r.push_back(g.pad_end[d]);
  }
}

// The geometry for input shape `x` (logical [N, C, spatial...]) and ONNX weights shape `w`
// ([M, C/group, k...]), or nullopt when they do not fit each other or the attributes, or the output is
// empty: the kernel then hands the call to its reference, which names the problem.
std::optional<ConvGeometry> conv_geometry(const ref::WindowAttrs& attrs, int64_t group, const Shape& x, const Shape& w,
                                          bool has_bias);

// The input shape constant weights `w` are packed for at build time, before any real shape is known:
// batch 1, the weights' channels, and spatial sizes of at least 32 (4 kernel widths), where oneDNN
// picks the layout it uses for real images.
Shape nominal_input_shape(const Shape& w, int64_t group);

// Constant weights `w` packed once into the layout `layout_for(geometry)` (the weights_desc of a
// primitive descriptor made with format_tag::any weights) names for the nominal input, with the plain
// copy let go (the plan frees W: Kernel::releases_constant); null when `w` is not float32 or oneDNN has
// no implementation for that shape. `layout_for` may throw dnnl::error.
template <typename LayoutFor>
std::unique_ptr<PackedWeights> pack_conv_weights(const Tensor& w, const ref::WindowAttrs& attrs, int64_t group,
                                                 LayoutFor&& layout_for) {
  if (w.dtype() != DataType::kFloat32 || w.size() == 0 || w.rank() < 3) return nullptr;
  try {
    const std::optional<ConvGeometry> s =
        conv_geometry(attrs, group, nominal_input_shape(w.shape(), group), w.shape(), false);
    if (!s) return nullptr;
    auto packed = std::make_unique<PackedWeights>(w, plain_desc(s->weights), w);
    packed->in_layout(layout_for(*s));
    packed->release_source();
    return packed;
  } catch (const dnnl::error&) {
    return nullptr;  // every shape reads the plain W
  }
}

// True for oneDNN's slow reference implementations ("ref", "gemm:ref"), of any primitive.
bool is_ref_impl(const dnnl::primitive_desc_base& pd);

// True for implementations too slow to run a (transposed) convolution of `group` groups on: the
// reference ones, and im2col + GEMM for a grouped one, which runs one small GEMM per group
// (depthwise: a 1-row GEMM per channel, ~1.4 GFLOP/s).
bool is_slow_grouped_impl(const dnnl::primitive_desc_base& pd, int64_t group);

// base_attr() (a user scratchpad) with post-ops: `ops` (what comes first, such as a residual add), then
// the activation (append_activation).
dnnl::primitive_attr conv_attr(dnnl::post_ops ops, const FusedActivation& act);

// A new memory in layout `md` holding `from`, reordered on the calling thread. Throws dnnl::error.
dnnl::memory reordered(dnnl::memory from, const dnnl::memory::desc& md);

}  // namespace kiln::dnnl_kernels
