// Folds an inference BatchNormalization into the Gemm that feeds it (nn.Linear -> nn.BatchNorm1d):
//   BN(alpha * A B' + beta * C) = alpha * A (B' s) + (beta * C - mean) * s + shift,   s = scale / sqrt(var + epsilon)
// per output column n, when B, C (if any) and the four BN parameters are float32 constants, C is one
// value per column (absent, a scalar, [N] or [1, N]) and the BN is the Gemm's only reader. The new
// weights and bias get new names (the originals may be shared with other nodes); beta becomes 1.
#include <cmath>

#include "opt/pass.h"

namespace kiln::opt {
Expected<bool> fold_batchnorm_into_gemm(ir::Graph& graph, const PassContext& ctx) {
  auto opset_it = ctx.opsets.find("");
  if (opset_it == ctx.opsets.end() || opset_it->second < 7) return false;  // legacy Gemm `broadcast`
  const int64_t opset = opset_it->second;
  bool changed = false;
  const ValueUses uses = value_uses(graph);
  const std::map<std::string, size_t> producer = producers(graph);
  std::vector<bool> erase(graph.nodes.size(), false);
  for (size_t bi = 0; bi < graph.nodes.size(); ++bi) {
    const ir::Node& bn = graph.nodes[bi];
    if (!is_inference_batchnorm(bn, opset)) continue;
    auto p = producer.find(bn.inputs[0]);
    if (p == producer.end() || erase[p->second]) continue;
    ir::Node& gemm = graph.nodes[p->second];
    if (gemm.op_type != "Gemm" || !gemm.domain.empty() || gemm.inputs.size() < 2 || gemm.outputs.size() != 1) continue;
    const std::string& y = gemm.outputs[0];
    if (uses.pinned.count(y) || uses.readers.at(y) != 1) continue;
    const bool trans_b = gemm.attr_int("transB", 0) != 0;
    const Tensor* w = constant_value(graph, uses, gemm.inputs[1]);
    if (w == nullptr || w->dtype() != DataType::kFloat32 || w->rank() != 2 || w->size() == 0) continue;
    const int64_t N = trans_b ? w->dim(0) : w->dim(1), K = trans_b ? w->dim(1) : w->dim(0);
    const bool has_c = gemm.inputs.size() > 2 && !gemm.inputs[2].empty();
    const Tensor* c = has_c ? constant_value(graph, uses, gemm.inputs[2]) : nullptr;
    if (has_c) {
      if (c == nullptr || c->dtype() != DataType::kFloat32 || c->rank() > 2 || c->size() == 0) continue;
      const bool row = c->size() == 1 || (c->size() == N && c->shape().back() == N);
      if (!row) continue;
    }
    const Tensor* scale = float_vector_constant(graph, uses, bn.inputs[1], N);
    const Tensor* shift = float_vector_constant(graph, uses, bn.inputs[2], N);
    const Tensor* mean = float_vector_constant(graph, uses, bn.inputs[3], N);
    const Tensor* var = float_vector_constant(graph, uses, bn.inputs[4], N);
    if (!scale || !shift || !mean || !var) continue;
    const double epsilon = bn.attr_float("epsilon", 1e-5f);
    const double beta = gemm.attr_float("beta", 1.0f);
    Tensor w2(DataType::kFloat32, w->shape()), c2(DataType::kFloat32, {N});
    for (int64_t n = 0; n < N; ++n) {
      const double s = scale->data<float>()[n] / std::sqrt(static_cast<double>(var->data<float>()[n]) + epsilon);
      for (int64_t k = 0; k < K; ++k) {
        const int64_t i = trans_b ? n * K + k : k * N + n;
        w2.data<float>()[i] = static_cast<float>(w->data<float>()[i] * s);
      }
      const double cv = c == nullptr ? 0.0 : c->data<float>()[c->size() == 1 ? 0 : n];
      c2.data<float>()[n] = static_cast<float>((beta * cv - mean->data<float>()[n]) * s + shift->data<float>()[n]);
    }
    const std::string w_name = fresh_name(graph, gemm.inputs[1] + "_bn_folded");
    graph.initializers[w_name] = std::move(w2);
    const std::string c_name = fresh_name(graph, gemm.inputs[1] + "_bn_folded_bias");
    graph.initializers[c_name] = std::move(c2);
    gemm.inputs.resize(3);
    gemm.inputs[1] = w_name;
    gemm.inputs[2] = c_name;
    std::erase_if(gemm.attributes, [](const ir::Attribute& a) { return a.name == "beta"; });
    gemm.outputs[0] = bn.outputs[0];
    erase[bi] = true;
    changed = true;
  }
  erase_nodes(graph, erase);
  return changed;
}

}  // namespace kiln::opt
