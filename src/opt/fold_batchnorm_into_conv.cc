// Folds an inference BatchNormalization into the Conv that feeds it:
//   BN(conv(x, W) + B) = conv(x, W * s) + (B - mean) * s + bias,   s = scale / sqrt(var + epsilon)
// per output channel, when W, B and the four BN parameters are float32 constants and the BN is the
// conv's only reader. New weights get new names (the originals may be shared with other nodes).
#include <cmath>

#include "opt/pass.h"

namespace kiln::opt {
Expected<bool> fold_batchnorm_into_conv(ir::Graph& graph, const PassContext& ctx) {
  auto opset_it = ctx.opsets.find("");
  if (opset_it == ctx.opsets.end()) return false;
  const int64_t opset = opset_it->second;
  bool changed = false;
  ValueUses uses = value_uses(graph);
  const std::map<std::string, size_t> producer = producers(graph);
  std::vector<bool> erase(graph.nodes.size(), false);
  for (size_t bi = 0; bi < graph.nodes.size(); ++bi) {
    const ir::Node& bn = graph.nodes[bi];
    if (!is_inference_batchnorm(bn, opset)) continue;
    auto p = producer.find(bn.inputs[0]);
    if (p == producer.end() || erase[p->second]) continue;
    ir::Node& conv = graph.nodes[p->second];
    if (conv.op_type != "Conv" || !conv.domain.empty() || conv.inputs.size() < 2 || conv.outputs.size() != 1) continue;
    const std::string& y = conv.outputs[0];
    if (uses.pinned.count(y) || uses.readers[y] != 1) continue;
    const Tensor* w = constant_value(graph, uses, conv.inputs[1]);
    // An empty weight has nothing to fold (and would divide by zero below).
    if (w == nullptr || w->dtype() != DataType::kFloat32 || w->rank() < 3 || w->size() == 0) continue;
    const int64_t M = w->dim(0);
    const bool has_bias = conv.inputs.size() > 2 && !conv.inputs[2].empty();
    const Tensor* b = has_bias ? float_vector_constant(graph, uses, conv.inputs[2], M) : nullptr;
    if (has_bias && b == nullptr) continue;
    const Tensor* scale = float_vector_constant(graph, uses, bn.inputs[1], M);
    const Tensor* shift = float_vector_constant(graph, uses, bn.inputs[2], M);
    const Tensor* mean = float_vector_constant(graph, uses, bn.inputs[3], M);
    const Tensor* var = float_vector_constant(graph, uses, bn.inputs[4], M);
    if (!scale || !shift || !mean || !var) continue;
    const double epsilon = bn.attr_float("epsilon", 1e-5f);
    Tensor w2(DataType::kFloat32, w->shape()), b2(DataType::kFloat32, {M});
    const int64_t per = w->size() / M;
    for (int64_t m = 0; m < M; ++m) {
      const double s = scale->data<float>()[m] / std::sqrt(static_cast<double>(var->data<float>()[m]) + epsilon);
      for (int64_t k = 0; k < per; ++k) {
        w2.data<float>()[m * per + k] = static_cast<float>(w->data<float>()[m * per + k] * s);
      }
      const double bias = b ? b->data<float>()[m] : 0.0;
      b2.data<float>()[m] = static_cast<float>((bias - mean->data<float>()[m]) * s + shift->data<float>()[m]);
    }
    const std::string w_name = fresh_name(graph, conv.inputs[1] + "_bn_folded");
    graph.initializers[w_name] = std::move(w2);
    const std::string b_name = fresh_name(graph, conv.inputs[1] + "_bn_folded_bias");
    graph.initializers[b_name] = std::move(b2);
    conv.inputs.resize(3);
    conv.inputs[1] = w_name;
    conv.inputs[2] = b_name;
    conv.outputs[0] = bn.outputs[0];
    erase[bi] = true;
    changed = true;
  }
  erase_nodes(graph, erase);
  return changed;
}

}  // namespace kiln::opt
