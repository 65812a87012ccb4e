// Fuses swish (SiLU), x * Sigmoid(x), into one kiln.Swish node: EfficientNet and its kin run it after
// almost every convolution, and as two nodes it costs a second pass over the activation and a second
// output tensor. Applies when the Sigmoid's output is read only by the Mul (either operand order).
#include "opt/pass.h"

namespace kiln::opt {

Expected<bool> fuse_swish(ir::Graph& graph, const PassContext&) {
  bool changed = false;
  const ValueUses uses = value_uses(graph);
  std::map<std::string, size_t> sigmoid_of_output;  // a Sigmoid's output -> its node index
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& n = graph.nodes[i];
    if (n.domain.empty() && n.op_type == "Sigmoid" && n.inputs.size() == 1 && n.outputs.size() == 1) {
      sigmoid_of_output[n.outputs[0]] = i;
    }
  }
  std::vector<bool> erase(graph.nodes.size(), false);
  for (ir::Node& mul : graph.nodes) {
    if (!mul.domain.empty() || mul.op_type != "Mul" || mul.inputs.size() != 2 || mul.outputs.size() != 1) continue;
    for (size_t k = 0; k < 2; ++k) {
      const std::string& s = mul.inputs[k];
      const std::string& x = mul.inputs[1 - k];
      auto it = sigmoid_of_output.find(s);
      if (it == sigmoid_of_output.end() || erase[it->second]) continue;
      if (graph.nodes[it->second].inputs[0] != x || uses.pinned.count(s) || uses.readers.at(s) != 1) continue;
      erase[it->second] = true;
      const std::string input = x;
      mul.domain = "kiln";
      mul.op_type = "Swish";
      mul.inputs = {input};
      mul.attributes.clear();  // a legacy Mul's broadcast/axis: x and Sigmoid(x) have one shape
      changed = true;
      break;
    }
  }
  erase_nodes(graph, erase);
  return changed;
}

}  // namespace kiln::opt
