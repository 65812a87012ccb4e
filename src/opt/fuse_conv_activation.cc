// Fuses an activation into the Conv that feeds it: Conv -> Relu becomes one kiln.FusedConv node with
// the Conv's inputs and attributes plus "activation" and "activation_params" (fused_activation.h),
// which oneDNN runs as a post-op. Applies when the activation is the Conv's only reader; Clip needs
// constant bounds.
#include <limits>

#include "kernels/fused_activation.h"
#include "opt/pass.h"

namespace kiln::opt {
namespace {

// The activation's parameters, or false when it cannot be fused.
bool activation_params(const ir::Graph& g, const ValueUses& u, const ir::Node& n, int64_t opset,
                       std::vector<float>* params) {
  if (!n.domain.empty() || !is_fusable_activation(n.op_type) || n.inputs.empty() || n.outputs.size() != 1) return false;
  if (n.op_type == "LeakyRelu") *params = {n.attr_float("alpha", 0.01f)};
  if (n.op_type == "HardSigmoid") *params = {n.attr_float("alpha", 0.2f), n.attr_float("beta", 0.5f)};
  if (n.op_type == "Clip") {
    constexpr float kInf = std::numeric_limits<float>::infinity();
    if (opset < 11) {
      *params = {n.attr_float("min", -kInf), n.attr_float("max", kInf)};
      return true;
    }
    *params = {-kInf, kInf};
    for (size_t i = 1; i < 3 && i < n.inputs.size(); ++i) {
      if (n.inputs[i].empty()) continue;
      const Tensor* t = constant_value(g, u, n.inputs[i]);
      if (t == nullptr || t->dtype() != DataType::kFloat32 || t->size() != 1) return false;
      (*params)[i - 1] = t->data<float>()[0];
    }
  }
  return true;
}

}  // namespace

Expected<bool> fuse_conv_activation(ir::Graph& graph, const PassContext& ctx) {
  auto opset_it = ctx.opsets.find("");
  if (opset_it == ctx.opsets.end()) return false;
  bool changed = false;
  const ValueUses uses = value_uses(graph);
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const std::string& o : graph.nodes[i].outputs) producer[o] = i;
  }
  std::vector<bool> erase(graph.nodes.size(), false);
  for (size_t ai = 0; ai < graph.nodes.size(); ++ai) {
    const ir::Node& act = graph.nodes[ai];
    std::vector<float> params;
    if (!activation_params(graph, uses, act, opset_it->second, &params)) continue;
    auto p = producer.find(act.inputs[0]);
    if (p == producer.end() || erase[p->second]) continue;
    ir::Node& conv = graph.nodes[p->second];
    if (conv.op_type != "Conv" || !conv.domain.empty() || conv.outputs.size() != 1) continue;
    const std::string& y = conv.outputs[0];
    if (uses.pinned.count(y) || uses.readers.at(y) != 1) continue;
    conv.domain = "kiln";
    conv.op_type = "FusedConv";
    conv.attributes.push_back(ir::Attribute::of_string(kActivationAttr, act.op_type));
    if (!params.empty()) {
      conv.attributes.push_back(ir::Attribute::of_floats(kActivationParamsAttr, params));
    }
    conv.outputs[0] = act.outputs[0];
    erase[ai] = true;
    changed = true;
  }
  erase_nodes(graph, erase);
  return changed;
}

}  // namespace kiln::opt
