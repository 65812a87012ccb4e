// Constant folding: a node whose inputs are all constants (initializers no graph input overrides) is
// run once, now, with its registered kernel, and its outputs become initializers. Repeats until no
// node qualifies, so whole constant subgraphs (shape arithmetic, weight transposes) disappear.
// Not folded: random operators, nodes with subgraphs, outputs that are graph outputs or read by a
// subgraph, non-tensor results, and results over kMaxFoldedElements (folding must not bloat memory).
#include <set>

#include "kernels/kernel.h"
#include "opt/pass.h"

namespace kiln::opt {
namespace {

constexpr int64_t kMaxFoldedElements = int64_t{1} << 22;

bool is_foldable_op(const ir::Node& n) {
  static const std::set<std::string> kRandom = {"RandomNormal", "RandomUniform", "RandomNormalLike",
                                                "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout"};
  if (!n.domain.empty() || kRandom.count(n.op_type)) return false;
  for (const ir::Attribute& a : n.attributes) {
    if (a.g || !a.graphs.empty()) return false;
  }
  return true;
}

// Runs `n` on constant inputs; false (and no error) when it cannot or should not be folded.
Expected<bool> try_fold(ir::Graph& graph, const ValueUses& uses, const ir::Node& n, int64_t opset) {
  std::vector<Value> values;
  values.reserve(n.inputs.size());
  for (const std::string& in : n.inputs) {
    if (in.empty()) {
      values.emplace_back();
      continue;
    }
    const Tensor* t = constant_value(graph, uses, in);
    if (t == nullptr) return false;
    values.emplace_back(*t);
  }
  for (const std::string& out : n.outputs) {
    if (uses.pinned.count(out)) return false;
  }
  const KernelRegistration* reg = KernelRegistry::global().find(n.domain, n.op_type, opset);
  if (reg == nullptr) return false;
  KernelBuildContext build{n, opset, nullptr};
  auto kernel = reg->factory(build);
  if (!kernel.ok()) return false;  // the plan will report it with the node's name
  std::vector<const Value*> ptrs;
  for (const Value& v : values) ptrs.push_back(v.is_none() ? nullptr : &v);
  std::vector<Value> outputs(n.outputs.size());
  KernelContext ctx(ptrs, &outputs, nullptr);
  if (!run_kernel(**kernel, ctx).ok()) return false;  // an error stays a run-time error, as without folding
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (n.outputs[i].empty()) continue;
    if (!outputs[i].is_tensor() || outputs[i].tensor().size() > kMaxFoldedElements) return false;
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!n.outputs[i].empty()) graph.initializers[n.outputs[i]] = outputs[i].tensor();
  }
  return true;
}

}  // namespace

Expected<bool> fold_constants(ir::Graph& graph, const PassContext& ctx) {
  auto opset_it = ctx.opsets.find("");
  if (opset_it == ctx.opsets.end()) return false;
  bool changed = false;
  for (bool again = true; again;) {
    again = false;
    const ValueUses uses = value_uses(graph);
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const ir::Node& n = graph.nodes[i];
      if (!is_foldable_op(n)) continue;
      KILN_ASSIGN_OR_RETURN(const bool folded, try_fold(graph, uses, n, opset_it->second));
      if (!folded) continue;
      graph.nodes.erase(graph.nodes.begin() + static_cast<std::ptrdiff_t>(i));
      changed = again = true;
      break;  // uses changed: recompute them
    }
  }
  return changed;
}

}  // namespace kiln::opt
