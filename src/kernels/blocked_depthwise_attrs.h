// The depthwise kiln.BlockedConv nodes that vec/blocked_depthwise.cc computes with an input activation,
// shared by that kernel and by the pass that gives nodes one (opt/move_swish_into_depthwise.cc), so
// the pass moves an activation only where the fast kernel will take it.
#pragma once

#include <optional>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/ref/window.h"

namespace kiln {

struct DepthwiseWindow {
  int64_t kernel = 0;    // square: kernel x kernel
  int64_t stride = 1;    // both axes
  int64_t pad_top = 0;   // and at the bottom
  int64_t pad_left = 0;  // and at the right
};

// The window of `node` (a kiln.BlockedConv) with weights of `w_shape` when it is a depthwise
// convolution of blocked X the kernel takes: W [C, 1, k, k] with group C, k 3 or 5, equal strides of 1
// or 2, dilation 1, explicit padding equal at both ends and at most k / 2, activation none or Swish.
// Else nullopt.
inline std::optional<DepthwiseWindow> depthwise_window(const ir::Node& node, const Shape& w_shape) {
  if (node.domain != "kiln" || node.op_type != "BlockedConv" || blocked_conv_plain_input(node)) return std::nullopt;
  auto act = parse_blocked_conv_activation(node);
  if (!act.ok() || (!act->op.empty() && act->op != kSwish)) return std::nullopt;
  auto attrs = ref::parse_window_attrs(node);
  if (!attrs.ok() || attrs->auto_pad != ref::AutoPad::kNotSet) return std::nullopt;
  if (w_shape.size() != 4 || w_shape[1] != 1 || w_shape[2] != w_shape[3] || (w_shape[2] != 3 && w_shape[2] != 5) ||
      node.attr_int("group", 1) != w_shape[0]) {
    return std::nullopt;
  }
  DepthwiseWindow win;
  win.kernel = w_shape[2];
  const auto& k = attrs->kernel_shape;
  if (!k.empty() && (k.size() != 2 || k[0] != win.kernel || k[1] != win.kernel)) return std::nullopt;
  const auto& s = attrs->strides;
  if (!s.empty() && (s.size() != 2 || s[0] != s[1] || s[0] < 1 || s[0] > 2)) return std::nullopt;
  for (int64_t d : attrs->dilations) {
    if (d != 1) return std::nullopt;
  }
  const auto& p = attrs->pads;
  if (!p.empty() && (p.size() != 4 || p[0] != p[2] || p[1] != p[3] || p[0] > win.kernel / 2 || p[1] > win.kernel / 2)) {
    return std::nullopt;
  }
  win.stride = s.empty() ? 1 : s[0];
  win.pad_top = p.empty() ? 0 : p[0];
  win.pad_left = p.empty() ? 0 : p[1];
  return win;
}

}  // namespace kiln
