// Fuses an activation into the Conv or ConvTranspose that feeds it: Conv -> Relu becomes one
// kiln.FusedConv node (ConvTranspose -> Relu one kiln.FusedConvTranspose) with the producer's inputs and
// attributes plus "activation" and "activation_params" (fused_activation.h). oneDNN runs a Conv's as a
// post-op; the ConvTranspose kernels apply theirs to each part of the output as it is written, while
// it is in cache (a generator's ConvTranspose -> BatchNormalization -> Relu, once the batch
// normalization is folded). Applies when the activation is the producer's only reader; Clip needs
// constant bounds.
#include "opt/pass.h"

namespace kiln::opt {
Expected<bool> fuse_conv_activation(ir::Graph& graph, const PassContext& ctx) {
  auto opset_it = ctx.opsets.find("");
  if (opset_it == ctx.opsets.end()) return false;
  bool changed = false;
  const ValueUses uses = value_uses(graph);
  const std::map<std::string, size_t> producer = producers(graph);
  std::vector<bool> erase(graph.nodes.size(), false);
  for (size_t ai = 0; ai < graph.nodes.size(); ++ai) {
    const ir::Node& act = graph.nodes[ai];
    const std::optional<FusedActivation> fused = fusable_activation(graph, uses, act, opset_it->second);
    // Gelu has no ONNX reference kernel at the opsets kiln runs, which the fused nodes' reference needs.
    if (!fused || fused->op == "Gelu") continue;
    auto p = producer.find(act.inputs[0]);
    if (p == producer.end() || erase[p->second]) continue;
    ir::Node& conv = graph.nodes[p->second];
    if ((conv.op_type != "Conv" && conv.op_type != "ConvTranspose") || !conv.domain.empty() ||
        conv.outputs.size() != 1) {
      continue;
    }
    const std::string& y = conv.outputs[0];
    if (uses.pinned.count(y) || uses.readers.at(y) != 1) continue;
    conv.domain = "kiln";
    conv.op_type = conv.op_type == "Conv" ? "FusedConv" : "FusedConvTranspose";
    set_fused_activation(conv, *fused);
    conv.outputs[0] = act.outputs[0];
    erase[ai] = true;
    changed = true;
  }
  erase_nodes(graph, erase);
  return changed;
}

}  // namespace kiln::opt
