// Fuses a network's first convolution (a kiln.BlockedConv on the plain image) and the depthwise
// kiln.BlockedConv that alone reads its result into one kiln.BlockedStemDepthwise
// (kernels/blocked_stem_depthwise_attrs.h):
//
//   y = BlockedConv(x, W, B?, input_layout=plain, window, activation=a?)          3x3, group 1
//   z = BlockedConv(y, DW, DB?, group=M, strides=s, pads=p, activation=d?)      3x3 depthwise
//     ->  z = BlockedStemDepthwise(x, W, B, DW, DB, window, activation=a, depthwise_stride=s,
//                                  depthwise_pads=p, depthwise_activation=d)
//
// MobileNetV2's and EfficientNet's first two layers. Applies within the limits of the vector kernel
// (blocked_stem_depthwise_attrs.h; it checks X's type and shape when it runs), y is read only by the depthwise
// convolution and is not a graph output, the weights and biases are constants, and neither node has a
// Sum or an input activation. Runs after fuse_blocked_conv_swish, so that SiLU activations are part of
// the convolutions, and before move_swish_into_depthwise, which would move the stem's onto the
// depthwise node.
#include "kernels/blocked_stem_depthwise_attrs.h"
#include "opt/graph_pattern.h"

namespace kiln::opt {
namespace {

// blocked_conv_constant_weights, for a square window, no input activation and an activation the fused
// kernel applies.
const Tensor* conv_weights(const ir::Graph& graph, const ValueUses& uses, const ir::Node& n) {
  if (n.has_attr(kInputActivationAttr)) return nullptr;
  const Expected<FusedActivation> act = parse_blocked_conv_activation(n);
  if (!act.ok() || !activation_keeps_zero(*act)) return nullptr;
  const Tensor* w = blocked_conv_constant_weights(graph, uses, n);
  return w != nullptr && w->dim(2) == w->dim(3) ? w : nullptr;
}

std::optional<SquareWindow> window(const ir::Node& n, const Tensor& w) {
  return square_window(n.attr_ints("kernel_shape"), n.attr_ints("strides"), n.attr_ints("pads"),
                       n.attr_ints("dilations"), w.dim(2));
}

bool is_stem(const ir::Node& n, const Tensor& w) {
  const int64_t block = n.attr_int(kChannelBlockAttr, kDefaultChannelBlock);
  return blocked_conv_plain_input(n) && n.attr_int("group", 1) == 1 && w.dim(2) == kStemKernel && w.dim(1) >= 1 &&
         w.dim(1) <= kMaxStemChannels && (block == 8 || block == 16) && window(n, w).has_value();
}

bool is_depthwise_of(const ir::Node& n, const Tensor& w, int64_t channels) {
  return !blocked_conv_plain_input(n) && w.shape() == Shape{channels, 1, kDepthwiseKernel, kDepthwiseKernel} &&
         n.attr_int("group", 1) == channels && window(n, w).has_value();
}

}  // namespace

Expected<bool> fuse_blocked_stem_depthwise(ir::Graph& graph, const PassContext& ctx) {
  (void)ctx;
  GraphPattern pattern(graph);
  const ValueUses& uses = pattern.uses();
  for (size_t di = 0; di < graph.nodes.size(); ++di) {
    ir::Node& dw = graph.nodes[di];
    if (pattern.consumed()[di] || dw.inputs.empty() || !pattern.is_internal(dw.inputs[0])) continue;
    size_t pi = 0;
    const ir::Node* producer = pattern.kiln_producer(dw.inputs[0], "BlockedConv", &pi);
    if (producer == nullptr) continue;
    const ir::Node& stem = *producer;
    const Tensor* w = conv_weights(graph, uses, stem);
    const Tensor* dww = conv_weights(graph, uses, dw);
    if (w == nullptr || dww == nullptr || !is_stem(stem, *w) || !is_depthwise_of(dw, *dww, w->dim(0))) continue;
    ir::Node fused = fused_conv_pair("BlockedStemDepthwise", stem, dw);
    for (const ir::Attribute& a : stem.attributes) {
      if (a.name == "kernel_shape" || a.name == "strides" || a.name == "pads" || a.name == "dilations" ||
          a.name == kActivationAttr || a.name == kActivationParamsAttr || a.name == kChannelBlockAttr) {
        fused.attributes.push_back(a);
      }
    }
    const SquareWindow dw_window = *window(dw, *dww);
    fused.attributes.push_back(ir::Attribute::of_int(kDepthwiseStrideAttr, dw_window.stride));
    if (dw_window.pad != 0) {
      fused.attributes.push_back(ir::Attribute::of_ints(kDepthwisePadsAttr, std::vector<int64_t>(4, dw_window.pad)));
    }
    add_depthwise_activation(dw, &fused.attributes);
    pattern.absorb({pi}, di);
    dw = std::move(fused);
  }
  return pattern.erase_absorbed(graph);
}

}  // namespace kiln::opt
