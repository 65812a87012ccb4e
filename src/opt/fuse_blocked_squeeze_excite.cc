// Fuses a squeeze-and-excitation block on the blocked layout into one kiln.BlockedSqueezeExcite
// (kernels/blocked_squeeze_excite_attrs.h):
//
//   s = BlockedGlobalAveragePool(x)
//   r = BlockedConv(s, W1, B1?, activation=a1?)      1x1, constant weights
//   g = BlockedConv(r, W2, B2?, activation=a2?)      1x1, constant weights
//   y = Mul(x, g) or Mul(g, x)
//     ->  y = BlockedSqueezeExcite(x, W1, B1, W2, B2, reduce_activation=a1, expand_activation=a2)
//
// which is what EfficientNet and MobileNetV3 export after convert_to_blocked_layout and the blocked
// conv fusions (the SiLU after the first conv is already its Swish activation). Applies when s, r and
// g are each read once and are not graph outputs, both convolutions are plain 1x1 (stride 1, no
// padding, group 1, no Sum, blocked input) with W2's shape the transpose of W1's, and x is the pool's
// input. The fused node takes the Mul's place, so the graph stays in topological order.
#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_squeeze_excite_attrs.h"
#include "opt/graph_pattern.h"

namespace kiln::opt {
namespace {

void copy_activation(const ir::Node& conv, const std::string& prefix, ir::Node* se) {
  const std::string act = conv.attr_string(kActivationAttr);
  if (act.empty()) return;
  se->attributes.push_back(ir::Attribute::of_string(prefix + "_activation", act));
  const std::vector<float> params = conv.attr_floats(kActivationParamsAttr);
  if (!params.empty()) se->attributes.push_back(ir::Attribute::of_floats(prefix + "_activation_params", params));
}

}  // namespace

Expected<bool> fuse_blocked_squeeze_excite(ir::Graph& graph, const PassContext& ctx) {
  (void)ctx;
  const ValueUses uses = value_uses(graph);
  const std::map<std::string, size_t> producer = producers(graph);
  auto internal = [&](const std::string& v) {
    auto it = uses.readers.find(v);
    return !uses.pinned.count(v) && it != uses.readers.end() && it->second == 1;
  };
  auto produced_by = [&](const std::string& v, const char* domain, const char* op) -> const ir::Node* {
    auto it = producer.find(v);
    if (it == producer.end()) return nullptr;
    const ir::Node& n = graph.nodes[it->second];
    return n.domain == domain && n.op_type == op ? &n : nullptr;
  };
  std::vector<bool> erase(graph.nodes.size(), false);
  bool changed = false;
  for (size_t mi = 0; mi < graph.nodes.size(); ++mi) {
    ir::Node& mul = graph.nodes[mi];
    if (!mul.domain.empty() || mul.op_type != "Mul" || mul.inputs.size() != 2 || mul.outputs.size() != 1) continue;
    for (int side = 0; side < 2; ++side) {
      const std::string& g = mul.inputs[side];
      const std::string& x = mul.inputs[1 - side];
      const ir::Node* expand = produced_by(g, "kiln", "BlockedConv");
      if (expand == nullptr || expand->inputs.empty()) continue;
      const ir::Node* reduce = produced_by(expand->inputs[0], "kiln", "BlockedConv");
      if (reduce == nullptr || reduce->inputs.empty()) continue;
      const ir::Node* pool = produced_by(reduce->inputs[0], "kiln", "BlockedGlobalAveragePool");
      if (pool == nullptr || pool->inputs.size() != 1 || pool->inputs[0] != x) continue;
      if (!internal(g) || !internal(expand->inputs[0]) || !internal(reduce->inputs[0])) continue;
      const Tensor* w1 = pointwise_blocked_conv_weights(graph, uses, *reduce, false);
      const Tensor* w2 = pointwise_blocked_conv_weights(graph, uses, *expand, false);
      if (w1 == nullptr || w2 == nullptr || w2->shape() != Shape{w1->dim(1), w1->dim(0), 1, 1}) continue;
      ir::Node se;
      se.domain = "kiln";
      se.op_type = "BlockedSqueezeExcite";
      se.name = mul.name.empty() ? expand->name : mul.name;
      auto bias = [](const ir::Node& conv) { return conv.inputs.size() == 3 ? conv.inputs[2] : std::string(); };
      se.inputs = {x, reduce->inputs[1], bias(*reduce), expand->inputs[1], bias(*expand)};
      se.outputs = mul.outputs;
      copy_activation(*reduce, "reduce", &se);
      copy_activation(*expand, "expand", &se);
      erase[producer.at(g)] = erase[producer.at(expand->inputs[0])] = erase[producer.at(reduce->inputs[0])] = true;
      mul = std::move(se);
      changed = true;
      break;
    }
  }
  erase_nodes(graph, erase);
  return changed;
}

}  // namespace kiln::opt
