// Fuses SiLU / Swish, x * sigmoid(x) (EfficientNet's activation, exported as Sigmoid and Mul), into the
// kiln.BlockedConv that computes x:
//
//   y = BlockedConv(...); s = Sigmoid(y); z = Mul(y, s)   ->   z = BlockedConv(..., activation=Swish)
//
// which oneDNN runs as its eltwise_swish post-op. Applies when y is read only by the Sigmoid and the
// Mul, s only by the Mul, neither is pinned, and the conv has no activation yet (a Sum is fine: the
// activation follows it, as Sigmoid and Mul followed the Add it replaced).
#include <map>

#include "kernels/blocked_conv_attrs.h"
#include "opt/pass.h"

namespace kiln::opt {

Expected<bool> fuse_blocked_conv_swish(ir::Graph& graph, const PassContext& ctx) {
  bool changed = false;
  const ValueUses uses = value_uses(graph);
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const std::string& o : graph.nodes[i].outputs) {
      if (!o.empty()) producer[o] = i;
    }
  }
  auto read_by = [&](const std::string& v, int n) {
    auto it = uses.readers.find(v);
    return !uses.pinned.count(v) && it != uses.readers.end() && it->second == n;
  };
  std::vector<bool> erase(graph.nodes.size(), false);
  for (size_t mi = 0; mi < graph.nodes.size(); ++mi) {
    const ir::Node& mul = graph.nodes[mi];
    if (!mul.domain.empty() || mul.op_type != "Mul" || mul.inputs.size() != 2 || mul.outputs.size() != 1) continue;
    for (int side = 0; side < 2; ++side) {
      const std::string& s = mul.inputs[side];
      const std::string& y = mul.inputs[1 - side];
      auto sp = producer.find(s);
      auto yp = producer.find(y);
      if (sp == producer.end() || yp == producer.end() || erase[sp->second] || erase[yp->second]) continue;
      const ir::Node& sigmoid = graph.nodes[sp->second];
      ir::Node& conv = graph.nodes[yp->second];
      if (!sigmoid.domain.empty() || sigmoid.op_type != "Sigmoid" || sigmoid.inputs.size() != 1 ||
          sigmoid.inputs[0] != y) {
        continue;
      }
      if (conv.domain != "kiln" || conv.op_type != "BlockedConv" || conv.outputs.size() != 1 ||
          !conv.attr_string(kActivationAttr).empty()) {
        continue;
      }
      if (!read_by(y, 2) || !read_by(s, 1)) continue;
      conv.attributes.push_back(ir::Attribute::of_string(kActivationAttr, kSwish));
      conv.outputs[0] = mul.outputs[0];
      erase[sp->second] = erase[mi] = true;
      changed = true;
      break;
    }
  }
  erase_nodes(graph, erase);
  return changed;
}

}  // namespace kiln::opt
