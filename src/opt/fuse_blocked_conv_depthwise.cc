// Fuses a 1x1 kiln.BlockedConv and the 3x3 or 5x5 depthwise kiln.BlockedConv that alone reads its
// result into one kiln.BlockedConvDepthwise (kernels/blocked_conv_depthwise_attrs.h):
//
//   y = BlockedConv(x, W, B?, activation=a?)                      1x1, stride 1, no padding, group 1
//   z = BlockedConv(y, DW, DB?, group=M, pads=k/2, strides=s, activation=d?)   kxk depthwise, k 3 or 5,
//                                                                              s 1 or 2
//     ->  z = BlockedConvDepthwise(x, W, B, DW, DB, activation=a, depthwise_activation=d, depthwise_stride=s)
//
// MobileNetV2's and EfficientNet's expansion followed by their depthwise convolution. Applies when y
// is read only by the depthwise convolution and is not a graph output, both weights (and biases) are
// constants, and neither convolution has a Sum or an input activation. Runs after
// fuse_blocked_conv_swish, so that SiLU activations are already part of the convolutions (EfficientNet's
// pairs, which the vector kernel computes: vec/blocked_conv_depthwise.cc).
#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_conv_depthwise_attrs.h"
#include "opt/graph_pattern.h"

namespace kiln::opt {
namespace {

// Attribute `name` absent, or exactly `value` (a malformed one stays with the node, whose kernels report it).
bool absent_or(const ir::Node& n, const char* name, const std::vector<int64_t>& value) {
  return !n.has_attr(name) || n.attr_ints(name) == value;
}

// blocked_conv_constant_weights, for a convolution of blocked X without dilation.
const Tensor* conv_weights(const ir::Graph& graph, const ValueUses& uses, const ir::Node& n) {
  if (blocked_conv_plain_input(n) || !absent_or(n, "dilations", {1, 1})) return nullptr;
  return blocked_conv_constant_weights(graph, uses, n);
}

bool is_pointwise(const ir::Node& n, const Tensor& w) {
  return w.dim(2) == 1 && w.dim(3) == 1 && n.attr_int("group", 1) == 1 && absent_or(n, "strides", {1, 1}) &&
         absent_or(n, "pads", {0, 0, 0, 0}) && absent_or(n, "kernel_shape", {1, 1}) &&
         !n.has_attr(kInputActivationAttr);
}

// The stride (1 or 2) of a 3x3 or 5x5 depthwise convolution over `channels` padded by half its window
// on every side, else 0.
int64_t depthwise_stride(const ir::Node& n, const Tensor& w, int64_t channels) {
  const std::vector<int64_t> strides = n.attr_ints("strides");
  const int64_t k = w.rank() == 4 ? w.dim(2) : 0, pad = k / 2;
  if (!conv_depthwise_kernel_ok(k) || w.shape() != Shape{channels, 1, k, k} || n.attr_int("group", 1) != channels ||
      n.attr_ints("pads") != std::vector<int64_t>{pad, pad, pad, pad} || strides.size() != 2 ||
      strides[0] != strides[1] || (strides[0] != 1 && strides[0] != 2) || !absent_or(n, "kernel_shape", {k, k}) ||
      n.has_attr(kInputActivationAttr)) {
    return 0;
  }
  return strides[0];
}

}  // namespace

Expected<bool> fuse_blocked_conv_depthwise(ir::Graph& graph, const PassContext& ctx) {
  (void)ctx;
  GraphPattern pattern(graph);
  const ValueUses& uses = pattern.uses();
  for (size_t di = 0; di < graph.nodes.size(); ++di) {
    ir::Node& dw = graph.nodes[di];
    if (pattern.consumed()[di] || dw.inputs.empty() || !pattern.is_internal(dw.inputs[0])) continue;
    size_t pi = 0;
    const ir::Node* producer = pattern.kiln_producer(dw.inputs[0], "BlockedConv", &pi);
    if (producer == nullptr) continue;
    const ir::Node& pw = *producer;
    const Tensor* w = conv_weights(graph, uses, pw);
    const Tensor* dww = conv_weights(graph, uses, dw);
    if (w == nullptr || dww == nullptr || !is_pointwise(pw, *w)) continue;
    const int64_t stride = depthwise_stride(dw, *dww, w->dim(0));
    if (stride == 0) continue;
    ir::Node fused = fused_conv_pair("BlockedConvDepthwise", pw, dw);
    for (const ir::Attribute& a : pw.attributes) {
      if (a.name == kActivationAttr || a.name == kActivationParamsAttr) fused.attributes.push_back(a);
    }
    add_depthwise_activation(dw, &fused.attributes);
    fused.attributes.push_back(ir::Attribute::of_int(kDepthwiseStrideAttr, stride));
    pattern.absorb({pi}, di);
    dw = std::move(fused);
  }
  return pattern.erase_absorbed(graph);
}

}  // namespace kiln::opt
