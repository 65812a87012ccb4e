// Recognizes the activation nodes a fused node can absorb, shared by the passes that fuse them.
#include <limits>

#include "opt/pass.h"

namespace kiln::opt {

std::optional<FusedActivation> fusable_activation(const ir::Graph& g, const ValueUses& u, const ir::Node& n,
                                                  int64_t opset) {
  if (n.inputs.empty() || n.inputs[0].empty() || n.outputs.size() != 1) return std::nullopt;
  FusedActivation act;
  act.op = n.op_type;
  // Gelu: kiln's own node (what the Gelu pattern is fused into) or ONNX's, in the exact (erf) form only:
  // the post-op is oneDNN's gelu_erf, and both nodes say "tanh" for the approximation.
  if (n.op_type == "Gelu" && (n.domain == "kiln" || n.domain.empty()) &&
      n.attr_string("approximate", "none") == "none") {
    return n.inputs.size() == 1 ? std::optional(act) : std::nullopt;
  }
  if (!n.domain.empty() || n.op_type == "Gelu" || !is_fusable_activation(n.op_type)) return std::nullopt;
  if (n.op_type == "LeakyRelu") act.params = {n.attr_float("alpha", 0.01f)};
  if (n.op_type == "HardSigmoid") act.params = {n.attr_float("alpha", 0.2f), n.attr_float("beta", 0.5f)};
  if (n.op_type == "Clip") {
    constexpr float kInf = std::numeric_limits<float>::infinity();
    if (opset < 11) {
      act.params = {n.attr_float("min", -kInf), n.attr_float("max", kInf)};
      return act;
    }
    act.params = {-kInf, kInf};
    for (size_t i = 1; i < 3 && i < n.inputs.size(); ++i) {
      if (n.inputs[i].empty()) continue;
      const Tensor* t = constant_value(g, u, n.inputs[i]);
      if (t == nullptr || t->dtype() != DataType::kFloat32 || t->size() != 1) return std::nullopt;
      act.params[i - 1] = t->data<float>()[0];
    }
  }
  return act;
}

void set_fused_activation(ir::Node& node, const FusedActivation& act) {
  node.attributes.push_back(ir::Attribute::of_string(kActivationAttr, act.op));
  if (!act.params.empty()) node.attributes.push_back(ir::Attribute::of_floats(kActivationParamsAttr, act.params));
}

}  // namespace kiln::opt
