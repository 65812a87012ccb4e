#include "opt/graph_pattern.h"

#include <cmath>

#include "kernels/blocked_conv_attrs.h"

namespace kiln::opt {

GraphPattern::GraphPattern(const ir::Graph& graph)
    : graph_(graph),
      uses_(value_uses(graph)),
      producer_(producers(graph)),
      consumed_(graph.nodes.size(), false),
      absorbed_(graph.nodes.size(), false) {}

const ir::Node* GraphPattern::producer(const std::string& value, const std::string& op_type, size_t* index) const {
  return producer_in("", value, op_type, index);
}

const ir::Node* GraphPattern::kiln_producer(const std::string& value, const std::string& op_type, size_t* index) const {
  return producer_in("kiln", value, op_type, index);
}

const ir::Node* GraphPattern::producer_in(const std::string& domain, const std::string& value,
                                          const std::string& op_type, size_t* index) const {
  auto it = producer_.find(value);
  if (it == producer_.end() || consumed_[it->second]) return nullptr;
  const ir::Node& n = graph_.nodes[it->second];
  if (n.domain != domain || n.op_type != op_type) return nullptr;
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

std::string GraphPattern::beside_scalar_constant(const ir::Node& n, float* constant) const {
  if (n.inputs.size() != 2) return "";
  if (scalar_constant(n.inputs[1], constant)) return n.inputs[0];
  if (scalar_constant(n.inputs[0], constant)) return n.inputs[1];
  return "";
}

std::string GraphPattern::beside_scalar_constant(const ir::Node& n, float expected, float rel_tolerance) const {
  if (n.inputs.size() != 2) return "";
  if (is_scalar_constant(n.inputs[1], expected, rel_tolerance)) return n.inputs[0];
  if (is_scalar_constant(n.inputs[0], expected, rel_tolerance)) return n.inputs[1];
  return "";
}

void GraphPattern::absorb(const std::vector<size_t>& absorbed, size_t kept) {
  for (size_t k : absorbed) {
    consumed_[k] = true;
    absorbed_[k] = true;
  }
  consumed_[kept] = true;
  matched_ = true;
}

bool GraphPattern::erase_absorbed(ir::Graph& graph) {
  erase_nodes(graph, absorbed_);
  return matched_;
}

const Tensor* blocked_conv_constant_weights(const ir::Graph& graph, const ValueUses& uses, const ir::Node& n) {
  if (n.domain != "kiln" || n.op_type != "BlockedConv" || n.outputs.size() != 1 || n.inputs.size() < 2 ||
      n.inputs.size() > 3 || (n.has_attr("auto_pad") && n.attr_string("auto_pad") != "NOTSET")) {
    return nullptr;
  }
  const Tensor* w = constant_value(graph, uses, n.inputs[1]);
  if (w == nullptr || w->dtype() != DataType::kFloat32 || w->rank() != 4) return nullptr;
  const std::string bias = blocked_conv_bias(n);
  if (!bias.empty() && float_vector_constant(graph, uses, bias, w->dim(0)) == nullptr) return nullptr;
  return w;
}

const Tensor* pointwise_blocked_conv_weights(const ir::Graph& graph, const ValueUses& uses, const ir::Node& n,
                                             bool sum_allowed) {
  if (n.domain != "kiln" || n.op_type != "BlockedConv" || n.outputs.size() != 1 || n.inputs.size() < 2 ||
      n.inputs.size() > (sum_allowed ? 4u : 3u) || blocked_conv_plain_input(n) || n.has_attr(kInputActivationAttr) ||
      n.attr_int("group", 1) != 1 || !all_equal(n.attr_ints("strides"), 1) || !all_equal(n.attr_ints("pads"), 0) ||
      !all_equal(n.attr_ints("dilations"), 1) || !all_equal(n.attr_ints("kernel_shape"), 1) ||
      (n.has_attr("auto_pad") && n.attr_string("auto_pad") != "NOTSET")) {
    return nullptr;
  }
  const Tensor* w = constant_value(graph, uses, n.inputs[1]);
  if (w == nullptr || w->dtype() != DataType::kFloat32 || w->rank() != 4 || w->dim(2) != 1 || w->dim(3) != 1) {
    return nullptr;
  }
  const bool has_bias = n.inputs.size() > 2 && !n.inputs[2].empty();
  if (has_bias && float_vector_constant(graph, uses, n.inputs[2], w->dim(0)) == nullptr) return nullptr;
  return w;
}

std::string blocked_conv_bias(const ir::Node& conv) { return conv.inputs.size() == 3 ? conv.inputs[2] : std::string(); }

ir::Node fused_conv_pair(const std::string& op_type, const ir::Node& first, const ir::Node& depthwise) {
  ir::Node fused;
  fused.domain = "kiln";
  fused.op_type = op_type;
  fused.name = depthwise.name.empty() ? first.name : depthwise.name;
  fused.inputs = {first.inputs[0], first.inputs[1], blocked_conv_bias(first), depthwise.inputs[1],
                  blocked_conv_bias(depthwise)};
  fused.outputs = depthwise.outputs;
  return fused;
}

void become_kiln_node(ir::Node& n, std::string op_type, std::vector<std::string> inputs,
                      std::vector<ir::Attribute> attributes) {
  n.op_type = std::move(op_type);
  n.domain = "kiln";
  n.inputs = std::move(inputs);
  n.attributes = std::move(attributes);
}

std::string other_input(const ir::Node& n, const std::string& one) {
  if (n.inputs.size() != 2) return "";
  if (n.inputs[0] == one) return n.inputs[1];
  if (n.inputs[1] == one) return n.inputs[0];
  return "";
}

bool all_equal(const std::vector<int64_t>& v, int64_t value) {
  for (int64_t x : v) {
    if (x != value) return false;
  }
  return true;
}

}  // namespace kiln::opt
