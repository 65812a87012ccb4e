// Fuses layer normalization as exporters decompose it below opset 17 (torch nn.LayerNorm) into one
// kiln.LayerNormalization node (ONNX LayerNormalization's semantics; the ONNX op needs opset 17):
//
//   m = ReduceMean(x, axes=A)        A: the last k axes, written negatively (-k..-1); keepdims 1
//   d = Sub(x, m)
//   p = Pow(d, 2) | Mul(d, d)
//   v = ReduceMean(p, axes=A)
//   s = Sqrt(Add(v, epsilon))        epsilon: a scalar constant
//   n = Div(d, s)
//   y = Mul(n, gamma)                optional; gamma a constant of rank <= k (either operand order)
//   z = Add(y, beta)                 optional; beta likewise   -> kiln.LayerNormalization(x, gamma, beta)
//
// Positive axes are left alone: without the input's rank the pass cannot tell they are a suffix.
// Without a Mul the scale is a constant 1 of shape [1]. Intermediates must be read only inside.
#include <algorithm>

#include "opt/graph_pattern.h"

namespace kiln::opt {
namespace {

struct LayerNormMatch {
  std::string x, scale, bias;
  int64_t axis = -1;
  float epsilon = 0;
  std::vector<size_t> nodes;  // every node of the pattern but the last
};

// The number k of normalized axes if `n` is ReduceMean over exactly [-k, ..., -1] keeping dims; else 0.
int64_t suffix_reduction(const ir::Node& n) {
  if (n.inputs.size() != 1 || n.attr_int("keepdims", 1) != 1) return 0;
  std::vector<int64_t> axes = n.attr_ints("axes");
  std::sort(axes.begin(), axes.end());
  const int64_t k = static_cast<int64_t>(axes.size());
  for (int64_t i = 0; i < k; ++i) {
    if (axes[static_cast<size_t>(i)] != i - k) return 0;
  }
  return k;
}

// A constant float32 parameter that broadcasts into the last k dims only.
bool is_parameter(const GraphPattern& p, const std::string& name, int64_t k) {
  const Tensor* t = constant_value(p.graph(), p.uses(), name);
  return t != nullptr && t->dtype() == DataType::kFloat32 && t->rank() <= k;
}

// div = Div(Sub(x, ReduceMean(x)), Sqrt(Add(ReduceMean(Pow(d, 2)), eps))): fills x, axis, epsilon
// and the nodes before the Div.
bool match_normalized(const GraphPattern& p, const ir::Node& div, LayerNormMatch* m) {
  size_t i_sub = 0, i_mean = 0, i_sq = 0, i_var = 0, i_add = 0, i_sqrt = 0;
  if (div.inputs.size() != 2) return false;
  const std::string& d = div.inputs[0];
  const std::string& s = div.inputs[1];
  const ir::Node* sub = p.producer(d, "Sub", &i_sub);
  if (sub == nullptr || sub->inputs.size() != 2) return false;
  const std::string& x = sub->inputs[0];
  const ir::Node* mean = p.producer(sub->inputs[1], "ReduceMean", &i_mean);
  if (mean == nullptr || !p.is_internal(sub->inputs[1]) || mean->inputs.empty() || mean->inputs[0] != x) return false;
  const int64_t k = suffix_reduction(*mean);
  if (k == 0) return false;
  const ir::Node* sqrt = p.producer(s, "Sqrt", &i_sqrt);
  if (sqrt == nullptr || !p.is_internal(s)) return false;
  const ir::Node* add = p.producer(sqrt->inputs[0], "Add", &i_add);
  if (add == nullptr || !p.is_internal(sqrt->inputs[0]) || add->inputs.size() != 2) return false;
  const std::string v = p.beside_scalar_constant(*add, &m->epsilon);
  const ir::Node* var = p.producer(v, "ReduceMean", &i_var);
  if (var == nullptr || !p.is_internal(v) || suffix_reduction(*var) != k) return false;
  const std::string& sq = var->inputs[0];
  if (!p.is_internal(sq)) return false;
  // d is read by the square (once as Pow, twice as Mul) and by the Div.
  if (const ir::Node* pow = p.producer(sq, "Pow", &i_sq)) {
    if (pow->inputs.size() != 2 || pow->inputs[0] != d || !p.is_scalar_constant(pow->inputs[1], 2.0f) ||
        !p.is_internal(d, 2)) {
      return false;
    }
  } else if (const ir::Node* mul = p.producer(sq, "Mul", &i_sq)) {
    if (mul->inputs.size() != 2 || mul->inputs[0] != d || mul->inputs[1] != d || !p.is_internal(d, 3)) return false;
  } else {
    return false;
  }
  m->x = x;
  m->axis = -k;
  m->nodes.insert(m->nodes.end(), {i_sub, i_mean, i_sq, i_var, i_add, i_sqrt});
  return true;
}

// Splits `n` = op(value, parameter) into the value's producer (of type `inner_op`) and the
// parameter, a constant; false if it is not that.
const ir::Node* peel_parameter(const GraphPattern& p, const ir::Node& n, const std::string& inner_op,
                               std::string* parameter, size_t* inner_index) {
  if (n.inputs.size() != 2) return nullptr;
  for (size_t j = 0; j < 2; ++j) {
    const std::string& value = n.inputs[j];
    const std::string& param = n.inputs[1 - j];
    if (constant_value(p.graph(), p.uses(), param) == nullptr) continue;
    const ir::Node* inner = p.producer(value, inner_op, inner_index);
    if (inner == nullptr || !p.is_internal(value)) continue;
    *parameter = param;
    return inner;
  }
  return nullptr;
}

// The pattern ending at `last` (the bias Add, the scale Mul, or the Div itself), or false.
bool match_layer_norm(const GraphPattern& p, const ir::Node& last, LayerNormMatch* m) {
  if (!last.domain.empty() || last.outputs.size() != 1 || last.inputs.size() != 2) return false;
  const ir::Node* n = &last;
  size_t i = 0;
  if (n->op_type == "Add") {
    n = peel_parameter(p, *n, "Mul", &m->bias, &i);
    if (n == nullptr) n = peel_parameter(p, last, "Div", &m->bias, &i);
    if (n == nullptr) return false;
    m->nodes.push_back(i);
  }
  if (n->op_type == "Mul") {
    const ir::Node* div = peel_parameter(p, *n, "Div", &m->scale, &i);
    if (div == nullptr) return false;
    n = div;
    m->nodes.push_back(i);
  }
  if (n->op_type != "Div" || !match_normalized(p, *n, m)) return false;
  for (const std::string* param : {&m->scale, &m->bias}) {
    if (!param->empty() && !is_parameter(p, *param, -m->axis)) return false;
  }
  return true;
}

}  // namespace

Expected<bool> fuse_layer_norm(ir::Graph& graph, const PassContext& ctx) {
  GraphPattern pattern(graph);
  // Backwards, so the bias Add is tried before the Mul and the Div it ends: the longest match wins.
  for (size_t i = graph.nodes.size(); i-- > 0;) {
    LayerNormMatch m;
    if (pattern.consumed()[i] || !match_layer_norm(pattern, graph.nodes[i], &m)) continue;
    pattern.absorb(m.nodes, i);
    if (m.scale.empty()) {
      m.scale = fresh_name(graph, graph.nodes[i].outputs[0] + "_scale");
      graph.initializers[m.scale] = Tensor::from_vector<float>({1}, {1.0f});
    }
    std::vector<std::string> inputs = {m.x, m.scale};
    if (!m.bias.empty()) inputs.push_back(m.bias);
    become_kiln_node(graph.nodes[i], "LayerNormalization", std::move(inputs),
                     {ir::Attribute::of_int("axis", m.axis), ir::Attribute::of_float("epsilon", m.epsilon)});
  }
  return pattern.erase_absorbed(graph);
}

}  // namespace kiln::opt
