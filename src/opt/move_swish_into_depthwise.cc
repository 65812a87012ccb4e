// Moves the SiLU of a kiln.BlockedConv onto the depthwise kiln.BlockedConv that alone reads its result:
//
//   y = BlockedConv(x, W, B?, activation=Swish)           any convolution (EfficientNet: the 1x1 expansion)
//   z = BlockedConv(y, DW, DB?, group=C, activation=d?)   depthwise, as kernels/blocked_depthwise_attrs.h
//     ->  y = BlockedConv(x, W, B?); z = BlockedConv(y, DW, DB?, group=C, activation=d?, input_activation=Swish)
//
// The first convolution then runs its primitive alone, and vec/blocked_depthwise.cc applies the SiLU
// to each row of y as it loads it, instead of a pass of its own over y after the primitive (on
// efficientnet_b0 such passes cost about as much as the depthwise convolutions). Applies when y is read
// only by the depthwise node and is not a graph output, DW and DB (if any) are constants, and the
// depthwise node has no Sum and no input activation yet. Runs after fuse_blocked_conv_swish, which gives the
// convolutions their SiLU, and after fuse_blocked_conv_depthwise, which takes the 1x1 expansions and their depthwise
// convolutions whole (SiLU or not): what is left here is any other SiLU convolution before a depthwise one.
#include <map>

#include "kernels/blocked_depthwise_attrs.h"
#include "opt/pass.h"

namespace kiln::opt {

Expected<bool> move_swish_into_depthwise(ir::Graph& graph, const PassContext& ctx) {
  const ValueUses uses = value_uses(graph);
  const std::map<std::string, size_t> producer = producers(graph);
  bool changed = false;
  for (ir::Node& dw : graph.nodes) {
    if (dw.domain != "kiln" || dw.op_type != "BlockedConv" || dw.inputs.size() < 2 || dw.inputs.size() > 3 ||
        dw.has_attr(kInputActivationAttr)) {
      continue;
    }
    const std::string& y = dw.inputs[0];
    auto readers = uses.readers.find(y);
    if (uses.pinned.count(y) || readers == uses.readers.end() || readers->second != 1) continue;
    const Tensor* w = constant_value(graph, uses, dw.inputs[1]);
    if (w == nullptr || w->dtype() != DataType::kFloat32 || !depthwise_window(dw, w->shape())) continue;
    // The kernel takes a bias only as a constant (it packs it at build).
    const bool has_bias = dw.inputs.size() == 3 && !dw.inputs[2].empty();
    if (has_bias && float_vector_constant(graph, uses, dw.inputs[2], w->dim(0)) == nullptr) continue;
    auto p = producer.find(y);
    if (p == producer.end()) continue;
    ir::Node& conv = graph.nodes[p->second];
    if (conv.domain != "kiln" || conv.op_type != "BlockedConv" || conv.outputs.size() != 1 ||
        conv.attr_string(kActivationAttr) != kSwish) {
      continue;
    }
    std::erase_if(conv.attributes, [](const ir::Attribute& a) { return a.name == kActivationAttr; });
    dw.attributes.push_back(ir::Attribute::of_string(kInputActivationAttr, kSwish));
    changed = true;
  }
  return changed;
}

}  // namespace kiln::opt
