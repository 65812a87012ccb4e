// The kiln.BlockedStemDepthwise operator: a network's first convolution (on the plain image) and the
// depthwise convolution that reads its result, as one node. Shared by its reference and vector kernels
// and by the pass that creates it (opt/fuse_blocked_stem_depthwise.cc).
//
//   kiln.BlockedStemDepthwise(X, W, B?, DW, DB?) -> Y
//     X    float32, plain [N, C, H, W]: the image
//     W    [M, C, k, k], B [M]: the stem convolution (group 1; its window: kernel_shape, strides, pads,
//          dilations, as Conv's)
//     DW   [M, 1, d, d], DB [M]: the depthwise convolution (group M, strides depthwise_stride in both
//          axes, pads depthwise_pads)
//     Y    blocked [N, ceil(M/B), OH, OW, B], B = channel_block (default 16)
//   Attributes: the stem's window, activation / activation_params (the stem's, as kiln.BlockedConv's:
//   Swish allowed), channel_block, depthwise_stride, depthwise_pads, depthwise_activation /
//   depthwise_activation_params.
//
//   Y = depthwise_activation(DepthwiseConv(activation(Conv(X, W, B)), DW, DB))
//
// MobileNetV2's and EfficientNet's first two layers (3 -> 32 channels at stride 2, then 3x3 depthwise
// at 112x112 for a 224x224 image). The stem's result is the network's largest tensor after the image,
// and the depthwise convolution reads it once: vec/blocked_stem_depthwise.cc computes it a few rows at
// a time into a ring that stays in L1 instead of writing it out and reading it back.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_conv_depthwise_attrs.h"

namespace kiln {

inline constexpr const char* kDepthwisePadsAttr = "depthwise_pads";

// The stem convolution the fused node stands for, as a kiln.BlockedConv on the plain image (inputs
// not set), named after it.
inline ir::Node stem_depthwise_stem_node(const ir::Node& fused) {
  ir::Node conv;
  conv.domain = "kiln";
  conv.op_type = "BlockedConv";
  conv.name = fused.name;
  for (const ir::Attribute& a : fused.attributes) {
    if (a.name == "kernel_shape" || a.name == "strides" || a.name == "pads" || a.name == "dilations" ||
        a.name == kActivationAttr || a.name == kActivationParamsAttr || a.name == kChannelBlockAttr) {
      conv.attributes.push_back(a);
    }
  }
  conv.attributes.push_back(ir::Attribute::of_string(kInputLayoutAttr, "plain"));
  return conv;
}

// The depthwise convolution over `channels` (M) with a `kernel` x `kernel` window.
inline ir::Node stem_depthwise_depthwise_node(const ir::Node& fused, int64_t channels, int64_t kernel) {
  return fused_depthwise_node(fused, channels, kernel, fused.attr_ints(kDepthwisePadsAttr));
}

// A square window the vector kernel computes: kernel x kernel, the same stride and the same padding at
// both ends of both axes (at most kernel / 2), dilation 1.
struct SquareWindow {
  int64_t kernel = 0, stride = 1, pad = 0;
};

// The window of a convolution with these attributes and a kernel_size x kernel_size weight, when it is
// such a square window with stride 1 or 2; else nullopt. Empty attributes take ONNX's defaults.
inline std::optional<SquareWindow> square_window(const std::vector<int64_t>& kernel_shape,
                                                 const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                                                 const std::vector<int64_t>& dilations, int64_t kernel_size) {
  SquareWindow win;
  win.kernel = kernel_size;
  if (!kernel_shape.empty() && kernel_shape != std::vector<int64_t>{kernel_size, kernel_size}) return std::nullopt;
  if (!strides.empty() && (strides.size() != 2 || strides[0] != strides[1])) return std::nullopt;
  win.stride = strides.empty() ? 1 : strides[0];
  if (win.stride != 1 && win.stride != 2) return std::nullopt;
  for (int64_t d : dilations) {
    if (d != 1) return std::nullopt;
  }
  if (!pads.empty() && (pads.size() != 4 || pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3])) {
    return std::nullopt;
  }
  win.pad = pads.empty() ? 0 : pads[0];
  if (win.pad < 0 || win.pad > kernel_size / 2) return std::nullopt;
  return win;
}

// What vec/blocked_stem_depthwise.cc computes, so that the pass makes the node only where it runs fast:
// a 3x3 stem on at most kMaxStemChannels image channels and a 3x3 depthwise convolution (what follows
// the stem in MobileNetV2 and EfficientNet; each kernel size is a set of instantiations of that file's
// loops), both square windows, each activation one that keeps 0 at 0 (activation_keeps_zero).
inline constexpr int64_t kStemKernel = 3;
inline constexpr int64_t kDepthwiseKernel = 3;
inline constexpr int64_t kMaxStemChannels = 4;

}  // namespace kiln
