// Fuses an activation into the matrix product that feeds it: MatMul or kiln.FusedMatMul -> Relu becomes
// one kiln.FusedMatMul, Gemm -> Relu one kiln.FusedGemm, each with "activation" and "activation_params"
// (kernels/fused_activation.h), which oneDNN runs as a post-op. The activations: those Conv fuses, and
// Gelu (kiln.Gelu, or ONNX's exact Gelu). Applies when the activation is the product's only reader;
// Clip needs constant bounds. Run after fuse_matmul_bias, so MatMul + Add + activation becomes one node.
#include "opt/pass.h"

namespace kiln::opt {

Expected<bool> fuse_matmul_activation(ir::Graph& graph, const PassContext& ctx) {
  auto opset_it = ctx.opsets.find("");
  if (opset_it == ctx.opsets.end()) return false;
  const int64_t opset = opset_it->second;
  bool changed = false;
  const ValueUses uses = value_uses(graph);
  const std::map<std::string, size_t> producer = producers(graph);
  std::vector<bool> erase(graph.nodes.size(), false);
  for (size_t ai = 0; ai < graph.nodes.size(); ++ai) {
    const ir::Node& act = graph.nodes[ai];
    const std::optional<FusedActivation> fused = fusable_activation(graph, uses, act, opset);
    if (!fused) continue;
    auto p = producer.find(act.inputs[0]);
    if (p == producer.end() || erase[p->second]) continue;
    ir::Node& mm = graph.nodes[p->second];
    const bool onnx = mm.domain.empty(), kiln = mm.domain == "kiln";
    const bool matmul = (onnx && mm.op_type == "MatMul") || (kiln && mm.op_type == "FusedMatMul");
    // Gemm before opset 7 has the legacy `broadcast` attribute, which kiln.FusedGemm does not carry.
    const bool gemm = (onnx && mm.op_type == "Gemm" && opset >= 7) || (kiln && mm.op_type == "FusedGemm");
    if ((!matmul && !gemm) || mm.outputs.size() != 1 || mm.has_attr(kActivationAttr)) continue;
    const std::string& y = mm.outputs[0];
    if (uses.pinned.count(y) || uses.readers.at(y) != 1) continue;
    mm.domain = "kiln";
    mm.op_type = matmul ? "FusedMatMul" : "FusedGemm";
    set_fused_activation(mm, *fused);
    mm.outputs[0] = act.outputs[0];
    erase[ai] = true;
    changed = true;
  }
  erase_nodes(graph, erase);
  return changed;
}

}  // namespace kiln::opt
