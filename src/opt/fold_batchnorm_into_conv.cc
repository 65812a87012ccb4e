// Folds an inference BatchNormalization into the Conv or ConvTranspose that feeds it:
//   BN(conv(x, W) + B) = conv(x, W * s) + (B - mean) * s + bias,   s = scale / sqrt(var + epsilon)
// per output channel, when W, B and the four BN parameters are float32 constants and the BN is the
// conv's only reader. New weights get new names (the originals may be shared with other nodes).
#include <cmath>

#include "opt/pass.h"

namespace kiln::opt {
namespace {

// The number of output channels of `conv` with weights `w`, or 0 when the shapes do not fit: Conv's W
// is [M, C/group, k...], ConvTranspose's [C, M/group, k...].
int64_t output_channels(const ir::Node& conv, const Tensor& w) {
  if (conv.op_type == "Conv") return w.dim(0);
  const int64_t group = conv.attr_int("group", 1);
  if (group < 1 || w.dim(0) % group != 0) return 0;
  return w.dim(1) * group;
}

// `w` with output channel m's weights multiplied by s[m].
Tensor scale_output_channels(const ir::Node& conv, const Tensor& w, const std::vector<double>& s) {
  Tensor scaled(DataType::kFloat32, w.shape());
  const float* from = w.data<float>();
  float* to = scaled.data<float>();
  if (conv.op_type == "Conv") {
    const int64_t per = w.size() / w.dim(0);
    for (int64_t i = 0; i < w.size(); ++i) to[i] = static_cast<float>(from[i] * s[static_cast<size_t>(i / per)]);
    return scaled;
  }
  // ConvTranspose: W[c][j] holds output channel (c / (C / group)) * (M / group) + j of c's group.
  const int64_t group = conv.attr_int("group", 1), c_per_group = w.dim(0) / group, m_per_group = w.dim(1);
  const int64_t taps = w.size() / (w.dim(0) * m_per_group);
  for (int64_t i = 0; i < w.size(); ++i) {
    const int64_t c = i / (m_per_group * taps), j = i / taps % m_per_group;
    to[i] = static_cast<float>(from[i] * s[static_cast<size_t>(c / c_per_group * m_per_group + j)]);
  }
  return scaled;
}

}  // namespace

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
    if ((conv.op_type != "Conv" && conv.op_type != "ConvTranspose") || !conv.domain.empty() || conv.inputs.size() < 2 ||
        conv.outputs.size() != 1) {
      continue;
    }
    const std::string& y = conv.outputs[0];
    if (uses.pinned.count(y) || uses.readers[y] != 1) continue;
    const Tensor* w = constant_value(graph, uses, conv.inputs[1]);
    // An empty weight has nothing to fold (and would divide by zero below).
    if (w == nullptr || w->dtype() != DataType::kFloat32 || w->rank() < 3 || w->size() == 0) continue;
    const int64_t M = output_channels(conv, *w);
    if (M == 0) continue;
    const bool has_bias = conv.inputs.size() > 2 && !conv.inputs[2].empty();
    const Tensor* b = has_bias ? float_vector_constant(graph, uses, conv.inputs[2], M) : nullptr;
    if (has_bias && b == nullptr) continue;
    const Tensor* scale = float_vector_constant(graph, uses, bn.inputs[1], M);
    const Tensor* shift = float_vector_constant(graph, uses, bn.inputs[2], M);
    const Tensor* mean = float_vector_constant(graph, uses, bn.inputs[3], M);
    const Tensor* var = float_vector_constant(graph, uses, bn.inputs[4], M);
    if (!scale || !shift || !mean || !var) continue;
    const double epsilon = bn.attr_float("epsilon", 1e-5f);
    std::vector<double> s(static_cast<size_t>(M));
    Tensor b2(DataType::kFloat32, {M});
    for (int64_t m = 0; m < M; ++m) {
      s[static_cast<size_t>(m)] =
          scale->data<float>()[m] / std::sqrt(static_cast<double>(var->data<float>()[m]) + epsilon);
      const double bias = b ? b->data<float>()[m] : 0.0;
      b2.data<float>()[m] =
          static_cast<float>((bias - mean->data<float>()[m]) * s[static_cast<size_t>(m)] + shift->data<float>()[m]);
    }
    Tensor w2 = scale_output_channels(conv, *w, s);
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
