// Fuses a squeeze-and-excitation block with the 1x1 convolution that reads it into one
// kiln.BlockedSqueezeExciteConv (kernels/blocked_squeeze_excite_conv_attrs.h):
//
//   s = BlockedSqueezeExcite(x, W1, B1, W2, B2)
//   z = BlockedConv(s, W, B?, Sum?, activation=a?)     1x1, constant weights
//     ->  z = BlockedSqueezeExciteConv(x, W1, B1, W2, B2, W, B, Sum, ..., activation=a)
//
// which is EfficientNet's projection after each squeeze-excite block (Sum where the block adds its
// input). Applies when s is read once and is not a graph output, and the convolution is plain 1x1
// (stride 1, no padding, group 1, dilation 1, no input activation, blocked input) of constant weights
// over the block's channels. The fused node takes the convolution's place, after every input it reads.
// Whether scaling the weights pays depends on the image size: the kernel decides per call.
#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_squeeze_excite_conv_attrs.h"
#include "opt/graph_pattern.h"

namespace kiln::opt {
Expected<bool> fuse_squeeze_excite_projection(ir::Graph& graph, const PassContext& ctx) {
  (void)ctx;
  GraphPattern p(graph);
  for (size_t ci = 0; ci < graph.nodes.size(); ++ci) {
    ir::Node& conv = graph.nodes[ci];
    if (conv.domain != "kiln" || conv.op_type != "BlockedConv" || conv.inputs.empty()) continue;
    size_t se_index = 0;
    const ir::Node* se = p.kiln_producer(conv.inputs[0], "BlockedSqueezeExcite", &se_index);
    if (se == nullptr || se->inputs.size() < 4 || se->outputs.size() != 1 || !p.is_internal(conv.inputs[0])) continue;
    const Tensor* w1 = constant_value(graph, p.uses(), se->inputs[1]);
    if (w1 == nullptr || w1->rank() != 4) continue;
    const Tensor* w = pointwise_blocked_conv_weights(graph, p.uses(), conv, true);
    if (w == nullptr || w->dim(1) != w1->dim(1)) continue;
    std::vector<std::string> inputs = se->inputs;
    inputs.resize(kSqueezeExciteInputs);
    for (size_t i = 1; i < conv.inputs.size(); ++i) inputs.push_back(conv.inputs[i]);
    std::vector<ir::Attribute> attributes = se->attributes;
    attributes.insert(attributes.end(), conv.attributes.begin(), conv.attributes.end());
    p.absorb({se_index}, ci);
    become_kiln_node(conv, "BlockedSqueezeExciteConv", std::move(inputs), std::move(attributes));
  }
  return p.erase_absorbed(graph);
}

}  // namespace kiln::opt
