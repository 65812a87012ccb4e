// Fuses a residual Add into the layer normalization that reads it, as transformer encoders do after
// every sublayer (LayerNorm(x + sublayer(x))):
//
//   s = Add(a, b);  y = LayerNormalization(s, scale[, bias]) {axis, epsilon}     (ONNX or kiln domain)
//     -> y[, s] = kiln.SkipLayerNormalization(a, b, scale[, bias]) {axis, epsilon}
//
// The sum becomes the node's second output when something else still reads it (a pre-norm
// encoder's residual stream); the kernel writes it from the same pass over each row. Skipped when
// the LayerNormalization also produces its Mean or InvStdDev outputs, or has stash_type other than 1.
#include "opt/graph_pattern.h"

namespace kiln::opt {
namespace {

bool is_layer_norm(const ir::Node& n) {
  if (n.op_type != "LayerNormalization" || (n.domain != "" && n.domain != "kiln")) return false;
  if (n.inputs.size() < 2 || n.outputs.empty() || n.attr_int("stash_type", 1) != 1) return false;
  for (size_t i = 1; i < n.outputs.size(); ++i) {
    if (!n.outputs[i].empty()) return false;
  }
  return true;
}

}  // namespace

Expected<bool> fuse_skip_layer_norm(ir::Graph& graph, const PassContext& ctx) {
  GraphPattern pattern(graph);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    ir::Node& norm = graph.nodes[i];
    if (!is_layer_norm(norm)) continue;
    const std::string sum = norm.inputs[0];
    size_t add_index = 0;
    const ir::Node* add = pattern.producer(sum, "Add", &add_index);
    if (add == nullptr || add->inputs.size() != 2 || add->outputs.size() != 1) continue;
    // The sum stays visible when the graph or another node needs it.
    const bool keep_sum = !pattern.is_internal(sum);
    // A kept sum with a computed scale or bias could close a cycle (bias = f(sum)); such models keep
    // the pair.
    if (keep_sum &&
        (!pattern.is_source(norm.inputs[1]) || (norm.inputs.size() > 2 && !pattern.is_source(norm.inputs[2])))) {
      continue;
    }
    std::vector<std::string> inputs = {add->inputs[0], add->inputs[1], norm.inputs[1]};
    if (norm.inputs.size() > 2 && !norm.inputs[2].empty()) inputs.push_back(norm.inputs[2]);
    pattern.absorb({add_index}, i);
    become_kiln_node(norm, "SkipLayerNormalization", std::move(inputs),
                     {ir::Attribute::of_int("axis", norm.attr_int("axis", -1)),
                      ir::Attribute::of_float("epsilon", norm.attr_float("epsilon", 1e-5f))});
    norm.outputs.resize(1);
    if (keep_sum) norm.outputs.push_back(sum);
  }
  return pattern.erase_absorbed(graph);
}

}  // namespace kiln::opt
