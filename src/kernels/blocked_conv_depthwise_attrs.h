// The kiln.BlockedConvDepthwise operator: a 1x1 convolution and the 3x3 or 5x5 depthwise convolution that
// reads its result, as one node on the blocked layout (kernels/blocked_layout.h). Shared by its reference and
// oneDNN kernels and by the pass that creates it (opt/fuse_blocked_conv_depthwise.cc).
//
//   kiln.BlockedConvDepthwise(X, W, B?, DW, DB?) -> Y
//     X    float32, blocked [N, ceil(C/B), H, W, B]
//     W    [M, C, 1, 1], B [M]: the pointwise convolution (stride 1, no padding)
//     DW   [M, 1, k, k], k 3 or 5, DB [M]: the depthwise convolution (group M, padding k / 2 on every
//          side, stride depthwise_stride)
//     Y    blocked [N, ceil(M/B), OH, OW, B], X's block B
//   Attributes: activation / activation_params (the pointwise convolution's, as kiln.BlockedConv's),
//   depthwise_activation / depthwise_activation_params, depthwise_stride (1 or 2).
//
//   Y = depthwise_activation(DepthwiseConv(activation(Conv(X, W, B)), DW, DB))
//
// This is MobileNetV2's and EfficientNet's expansion: the 1x1 convolution multiplies the channels
// (x6), so its result is the largest tensor of the block; the kernels consume it in rows that stay in
// cache instead of writing it out and reading it back.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "kernels/fused_activation.h"

namespace kiln {

inline constexpr const char* kDepthwiseActivationAttr = "depthwise_activation";
inline constexpr const char* kDepthwiseActivationParamsAttr = "depthwise_activation_params";
inline constexpr const char* kDepthwiseStrideAttr = "depthwise_stride";

// The two kiln.BlockedConv nodes the fused node stands for (inputs not set), named after it.
inline ir::Node conv_depthwise_pointwise_node(const ir::Node& fused) {
  ir::Node conv;
  conv.domain = "kiln";
  conv.op_type = "BlockedConv";
  conv.name = fused.name;
  for (const ir::Attribute& a : fused.attributes) {
    if (a.name == kActivationAttr || a.name == kActivationParamsAttr) conv.attributes.push_back(a);
  }
  return conv;
}

// The depthwise kernel sizes the operator takes.
inline bool conv_depthwise_kernel_ok(int64_t k) { return k == 3 || k == 5; }

// The depthwise kiln.BlockedConv a fused node stands for (inputs not set), named after it: group
// `channels`, a `kernel` x `kernel` window padded by `pads` (empty: none), the node's depthwise_stride
// and depthwise activation. Shared with kiln.BlockedStemDepthwise.
inline ir::Node fused_depthwise_node(const ir::Node& fused, int64_t channels, int64_t kernel,
                                     const std::vector<int64_t>& pads) {
  ir::Node conv;
  conv.domain = "kiln";
  conv.op_type = "BlockedConv";
  conv.name = fused.name;
  const int64_t s = fused.attr_int(kDepthwiseStrideAttr, 1);
  conv.attributes = {ir::Attribute::of_int("group", channels), ir::Attribute::of_ints("kernel_shape", {kernel, kernel}),
                     ir::Attribute::of_ints("strides", {s, s})};
  if (!pads.empty()) conv.attributes.push_back(ir::Attribute::of_ints("pads", pads));
  const std::string act = fused.attr_string(kDepthwiseActivationAttr);
  if (!act.empty()) {
    conv.attributes.push_back(ir::Attribute::of_string(kActivationAttr, act));
    const std::vector<float> params = fused.attr_floats(kDepthwiseActivationParamsAttr);
    if (!params.empty()) conv.attributes.push_back(ir::Attribute::of_floats(kActivationParamsAttr, params));
  }
  return conv;
}

// The fused node's depthwise activation attributes, from the depthwise convolution's own: what
// fused_depthwise_node reads back. For the passes that make the fused nodes.
inline void add_depthwise_activation(const ir::Node& depthwise, std::vector<ir::Attribute>* fused) {
  const std::string act = depthwise.attr_string(kActivationAttr);
  if (act.empty()) return;
  fused->push_back(ir::Attribute::of_string(kDepthwiseActivationAttr, act));
  const std::vector<float> params = depthwise.attr_floats(kActivationParamsAttr);
  if (!params.empty()) fused->push_back(ir::Attribute::of_floats(kDepthwiseActivationParamsAttr, params));
}

// `channels` is M, the depthwise convolution's group; `kernel` its window (3 or 5), padded by half.
inline ir::Node conv_depthwise_depthwise_node(const ir::Node& fused, int64_t channels, int64_t kernel) {
  const int64_t pad = kernel / 2;
  return fused_depthwise_node(fused, channels, kernel, {pad, pad, pad, pad});
}

}  // namespace kiln
