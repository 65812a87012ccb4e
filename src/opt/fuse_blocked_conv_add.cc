// Folds a residual Add (and a Relu after it) into the kiln.BlockedConv that feeds it:
//
//   y = BlockedConv(x, W, B); z = Add(y, r) [; z = Relu(z)]   ->   z = BlockedConv(x, W, B, Sum=r [, Relu])
//
// which oneDNN runs as a binary-add post-op (reading r in place) and an eltwise post-op, so the
// residual never makes a separate pass over memory. Runs after convert_to_blocked_layout, whose
// invariant it relies on: a node reading a BlockedConv output is in blocked form, so r (not a constant)
// is blocked too. Applies when y is read only by the Add and the conv has no activation or Sum yet.
#include <map>

#include "kernels/blocked_conv_attrs.h"
#include "opt/pass.h"

namespace kiln::opt {
namespace {

// True if node i is a BlockedConv whose output can take a post-op: no activation or Sum yet, and the
// output is read once and not pinned.
bool open_blocked_conv(const ir::Graph& g, const ValueUses& u, size_t i) {
  const ir::Node& n = g.nodes[i];
  if (n.domain != "kiln" || n.op_type != "BlockedConv" || n.inputs.size() > 3 || n.outputs.size() != 1) return false;
  if (!n.attr_string(kActivationAttr).empty()) return false;
  const std::string& y = n.outputs[0];
  return !u.pinned.count(y) && u.readers.count(y) && u.readers.at(y) == 1;
}

}  // namespace

Expected<bool> fuse_blocked_conv_add(ir::Graph& graph, const PassContext& ctx) {
  bool changed = false;
  const ValueUses uses = value_uses(graph);
  const std::map<std::string, size_t> producer = producers(graph);
  // The single reader of each value read once, for the Relu after an Add.
  std::map<std::string, size_t> only_reader;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const std::string& in : graph.nodes[i].inputs) {
      if (!in.empty() && uses.readers.at(in) == 1) only_reader[in] = i;
    }
  }
  std::vector<bool> erase(graph.nodes.size(), false);
  std::vector<bool> touched(graph.nodes.size(), false);
  for (size_t ai = 0; ai < graph.nodes.size(); ++ai) {
    const ir::Node& add = graph.nodes[ai];
    if (!add.domain.empty() || add.op_type != "Add" || add.inputs.size() != 2 || add.outputs.size() != 1) continue;
    if (add.inputs[0] == add.inputs[1]) continue;
    for (int side = 0; side < 2; ++side) {
      const std::string& y = add.inputs[side];
      const std::string& r = add.inputs[1 - side];
      auto p = producer.find(y);
      if (p == producer.end() || touched[p->second] || !open_blocked_conv(graph, uses, p->second)) continue;
      if (!producer.count(r)) continue;  // a float scalar constant (the other kind of operand) broadcasts
      ir::Node& conv = graph.nodes[p->second];
      conv.inputs.resize(3);  // an omitted B stays omitted (empty name)
      conv.inputs.push_back(r);
      std::string out = add.outputs[0];
      auto relu = only_reader.find(out);
      if (relu != only_reader.end() && !uses.pinned.count(out)) {
        const ir::Node& act = graph.nodes[relu->second];
        if (act.domain.empty() && act.op_type == "Relu" && act.outputs.size() == 1) {
          conv.attributes.push_back(ir::Attribute::of_string(kActivationAttr, "Relu"));
          erase[relu->second] = true;
          out = act.outputs[0];
        }
      }
      conv.outputs[0] = out;
      erase[ai] = true;
      touched[p->second] = true;
      changed = true;
      break;
    }
  }
  erase_nodes(graph, erase);
  return changed;
}

}  // namespace kiln::opt
