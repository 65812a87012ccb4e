// Fuses the decomposed GELU that exporters emit into one kiln.Gelu node (ONNX opset 20 Gelu semantics,
// attribute "approximate" = "none" | "tanh"):
//   exact (torch nn.GELU):   0.5 * x * (1 + Erf(x / sqrt(2)))        Div or Mul(1/sqrt(2))
//   tanh (approximate=tanh): 0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))   x^3 as x*(x*x) or Pow(x, 3)
// with the 0.5 applied last (Mul(Mul(x, a), 0.5)) or first (Mul(Mul(x, 0.5), a)), operands in either
// order. Every intermediate must be read only inside the pattern; constants must be scalars of the
// right value. The gemm fusion folds kiln.Gelu into a preceding MatMul as a oneDNN post-op.
#include <cmath>

#include "opt/graph_pattern.h"

namespace kiln::opt {
namespace {

struct GeluMatch {
  std::string x;
  std::string approximate;    // "none" or "tanh"
  std::vector<size_t> nodes;  // every node of the pattern but the last
};

// a = 1 + F(x): fills the approximation and the nodes of a's subtree; x must be `x`.
bool match_one_plus(const GraphPattern& p, const std::string& a, const std::string& x, GeluMatch* m) {
  size_t ia = 0, i_f = 0;
  const ir::Node* add = p.producer(a, "Add", &ia);
  if (add == nullptr || !p.is_internal(a) || add->inputs.size() != 2) return false;
  const std::string f = p.beside_scalar_constant(*add, 1.0f);
  if (f.empty() || !p.is_internal(f)) return false;
  std::vector<size_t> nodes = {ia};
  if (const ir::Node* erf = p.producer(f, "Erf", &i_f)) {
    nodes.push_back(i_f);
    const std::string& d = erf->inputs[0];
    size_t id = 0;
    const ir::Node* div = p.producer(d, "Div", &id);
    const ir::Node* mul = div ? nullptr : p.producer(d, "Mul", &id);
    if (!p.is_internal(d)) return false;
    if (div != nullptr) {
      if (div->inputs.size() != 2 || div->inputs[0] != x ||
          !p.is_scalar_constant(div->inputs[1], std::sqrt(2.0f), 1e-5f)) {
        return false;
      }
    } else if (mul != nullptr) {
      if (!p.is_scalar_constant(other_input(*mul, x), std::sqrt(0.5f), 1e-5f)) return false;
    } else {
      return false;
    }
    nodes.push_back(id);
    m->approximate = "none";
  } else if (const ir::Node* tanh = p.producer(f, "Tanh", &i_f)) {
    nodes.push_back(i_f);
    // u = sqrt(2/pi) * w;  w = x + z;  z = 0.044715 * x3;  x3 = x * (x * x) | Pow(x, 3)
    size_t iu = 0, iw = 0, iz = 0, i3 = 0;
    const std::string& u = tanh->inputs[0];
    const ir::Node* mu = p.producer(u, "Mul", &iu);
    if (mu == nullptr || !p.is_internal(u) || mu->inputs.size() != 2) return false;
    const std::string w = p.beside_scalar_constant(*mu, std::sqrt(2.0f / static_cast<float>(M_PI)), 1e-5f);
    const ir::Node* aw = p.producer(w, "Add", &iw);
    if (aw == nullptr || !p.is_internal(w)) return false;
    const std::string z = other_input(*aw, x);
    const ir::Node* mz = p.producer(z, "Mul", &iz);
    if (mz == nullptr || !p.is_internal(z) || mz->inputs.size() != 2) return false;
    const std::string x3 = p.beside_scalar_constant(*mz, 0.044715f, 1e-5f);
    if (!p.is_internal(x3)) return false;
    nodes.insert(nodes.end(), {iu, iw, iz});
    if (const ir::Node* pw = p.producer(x3, "Pow", &i3)) {
      if (pw->inputs.size() != 2 || pw->inputs[0] != x || !p.is_scalar_constant(pw->inputs[1], 3.0f)) return false;
      nodes.push_back(i3);
    } else if (const ir::Node* m3 = p.producer(x3, "Mul", &i3)) {
      const std::string xx = other_input(*m3, x);
      size_t i2 = 0;
      const ir::Node* m2 = p.producer(xx, "Mul", &i2);
      if (m2 == nullptr || !p.is_internal(xx) || m2->inputs.size() != 2 || m2->inputs[0] != x || m2->inputs[1] != x) {
        return false;
      }
      nodes.insert(nodes.end(), {i3, i2});
    } else {
      return false;
    }
    m->approximate = "tanh";
  } else {
    return false;
  }
  m->nodes.insert(m->nodes.end(), nodes.begin(), nodes.end());
  return true;
}

// The pattern ending at Mul node `last`, or false.
bool match_gelu(const GraphPattern& p, const ir::Node& last, GeluMatch* m) {
  if (!last.domain.empty() || last.op_type != "Mul" || last.inputs.size() != 2 || last.outputs.size() != 1)
    return false;
  for (int k = 0; k < 2; ++k) {
    const std::string& first = last.inputs[static_cast<size_t>(k)];
    const std::string& second = last.inputs[static_cast<size_t>(1 - k)];
    size_t i = 0;
    const ir::Node* inner = p.producer(first, "Mul", &i);
    if (inner == nullptr || !p.is_internal(first) || inner->inputs.size() != 2) continue;
    for (int j = 0; j < 2; ++j) {
      *m = GeluMatch{};
      const std::string& u = inner->inputs[static_cast<size_t>(j)];
      const std::string& v = inner->inputs[static_cast<size_t>(1 - j)];
      // 0.5 last: last = (x * a) * 0.5
      if (p.is_scalar_constant(second, 0.5f) && match_one_plus(p, v, u, m)) {
        m->x = u;
      } else if (p.is_scalar_constant(v, 0.5f) && match_one_plus(p, second, u, m)) {
        m->x = u;  // 0.5 first: last = (x * 0.5) * a
      } else {
        continue;
      }
      m->nodes.push_back(i);
      return true;
    }
  }
  return false;
}

}  // namespace

Expected<bool> fuse_gelu(ir::Graph& graph, const PassContext& ctx) {
  GraphPattern pattern(graph);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    GeluMatch m;
    if (pattern.consumed()[i] || !match_gelu(pattern, graph.nodes[i], &m)) continue;
    pattern.absorb(m.nodes, i);
    become_kiln_node(graph.nodes[i], "Gelu", {m.x}, {ir::Attribute::of_string("approximate", m.approximate)});
  }
  return pattern.erase_absorbed(graph);
}

}  // namespace kiln::opt
