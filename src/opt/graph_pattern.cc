#include "opt/graph_pattern.h"

#include <cmath>

namespace kiln::opt {

GraphPattern::GraphPattern(const ir::Graph& graph)
    : graph_(graph), uses_(value_uses(graph)), producer_(producers(graph)), consumed_(graph.nodes.size(), false) {}

const ir::Node* GraphPattern::producer(const std::string& value, const std::string& op_type, size_t* index) const {
  auto it = producer_.find(value);
  if (it == producer_.end() || consumed_[it->second]) return nullptr;
  const ir::Node& n = graph_.nodes[it->second];
  if (!n.domain.empty() || n.op_type != op_type) return nullptr;
  if (index != nullptr) *index = it->second;
  return &n;
}

bool GraphPattern::is_internal(const std::string& value, int readers) const {
  if (value.empty() || uses_.pinned.count(value)) return false;
  auto it = uses_.readers.find(value);
  return it != uses_.readers.end() && it->second == readers;
}

bool GraphPattern::scalar_constant(const std::string& value, float* out) const {
  const Tensor* t = constant_value(graph_, uses_, value);
  // Rank 0 or 1 only: a one-element constant of higher rank would broadcast the other operand up.
  if (t == nullptr || t->dtype() != DataType::kFloat32 || t->size() != 1 || t->rank() > 1) return false;
  *out = t->data<float>()[0];
  return true;
}

bool GraphPattern::is_scalar_constant(const std::string& value, float expected, float rel_tolerance) const {
  float v = 0;
  return scalar_constant(value, &v) && std::fabs(v - expected) <= rel_tolerance * std::fabs(expected);
}

std::string other_input(const ir::Node& n, const std::string& one) {
  if (n.inputs.size() != 2) return "";
  if (n.inputs[0] == one) return n.inputs[1];
  if (n.inputs[1] == one) return n.inputs[0];
  return "";
}

}  // namespace kiln::opt
