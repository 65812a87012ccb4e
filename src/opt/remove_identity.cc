// Removes Identity, and Dropout in inference, by letting their readers read the input directly.
// Kept: nodes whose output is a graph output or read by a subgraph (its name is part of the
// interface), Dropout with a training_mode input or a used mask.
#include "opt/pass.h"

namespace kiln::opt {
namespace {

bool is_removable(const ir::Node& n, const ValueUses& uses) {
  if (!n.domain.empty() || n.inputs.empty() || n.inputs[0].empty() || n.outputs.empty()) return false;
  if (n.op_type == "Dropout") {
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) return false;  // training_mode decides at run time
    for (size_t i = 1; i < n.outputs.size(); ++i) {
      if (!n.outputs[i].empty() && (uses.readers.count(n.outputs[i]) || uses.pinned.count(n.outputs[i]))) return false;
    }
  } else if (n.op_type != "Identity") {
    return false;
  }
  return !uses.pinned.count(n.outputs[0]);
}

}  // namespace

Expected<bool> remove_identity(ir::Graph& graph, const PassContext&) {
  bool changed = false;
  const ValueUses uses = value_uses(graph);
  for (size_t i = 0; i < graph.nodes.size();) {
    const ir::Node& n = graph.nodes[i];
    if (!is_removable(n, uses)) {
      ++i;
      continue;
    }
    const std::string from = n.outputs[0], to = n.inputs[0];
    graph.nodes.erase(graph.nodes.begin() + static_cast<std::ptrdiff_t>(i));
    rename_reads(graph, from, to);
    changed = true;
  }
  return changed;
}

}  // namespace kiln::opt
