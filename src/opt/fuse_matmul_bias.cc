// Fuses the bias Add after a MatMul with constant weights into it: MatMul(A, W) -> Add(., b) becomes
// one kiln.FusedMatMul(A, W, b), which oneDNN runs as one GEMM with a bias (nn.Linear on a 3-D input,
// BERT's projections). Applies when W is a 2-D float32 constant [K, N], b a float32 constant of shape
// [N] (either Add operand), and the Add is the MatMul's only reader. A bias of another shape would
// broadcast over more than the last axis (or change the output's rank), so it is left alone.
#include "opt/pass.h"

namespace kiln::opt {

Expected<bool> fuse_matmul_bias(ir::Graph& graph, const PassContext& ctx) {
  bool changed = false;
  const ValueUses uses = value_uses(graph);
  const std::map<std::string, size_t> producer = producers(graph);
  std::vector<bool> erase(graph.nodes.size(), false);
  for (size_t ai = 0; ai < graph.nodes.size(); ++ai) {
    const ir::Node& add = graph.nodes[ai];
    if (add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2 || add.outputs.size() != 1) continue;
    for (size_t side = 0; side < 2; ++side) {
      const std::string& product = add.inputs[side];
      const std::string& bias_name = add.inputs[1 - side];
      auto p = producer.find(product);
      if (p == producer.end() || erase[p->second]) continue;
      ir::Node& mm = graph.nodes[p->second];
      if (mm.op_type != "MatMul" || !mm.domain.empty() || mm.inputs.size() != 2 || mm.outputs.size() != 1) continue;
      if (uses.pinned.count(product) || uses.readers.at(product) != 1) continue;
      const Tensor* w = constant_value(graph, uses, mm.inputs[1]);
      const Tensor* bias = constant_value(graph, uses, bias_name);
      if (w == nullptr || bias == nullptr || w->dtype() != DataType::kFloat32 || bias->dtype() != DataType::kFloat32 ||
          w->rank() != 2 || bias->rank() != 1 || bias->dim(0) != w->dim(1)) {
        continue;
      }
      mm.domain = "kiln";
      mm.op_type = "FusedMatMul";
      mm.inputs.push_back(bias_name);
      mm.outputs[0] = add.outputs[0];
      erase[ai] = true;
      changed = true;
      break;
    }
  }
  erase_nodes(graph, erase);
  return changed;
}

}  // namespace kiln::opt
