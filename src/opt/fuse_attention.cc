// Fuses the core of multi-head self-attention, as torch exports it, into one kiln.Attention node:
//
//   Qt = Transpose(Q, perm=[0,2,1,3])     Q, K, V: [B, S, H, D], the head-split projections
//   Kt = Transpose(K, perm=[0,2,3,1])     (each a Reshape of MatMul + bias, which stay as they are:
//   Vt = Transpose(V, perm=[0,2,1,3])      a Reshape is a view, and its shape checks keep running)
//   S  = MatMul(Qt, Kt)
//   S' = Div(S, c) | Mul(S, c) | S        c: a scalar constant; scale = 1/c or c
//   S" = Add(S', Mask) | S'               optional additive mask, any operand order
//   P  = Softmax(S", axis=-1)             (axis 3 too; before opset 13 the default axis 1 does not match)
//   O  = MatMul(P, Vt)
//   Y  = Transpose(O, perm=[0,2,1,3])     -> kiln.Attention(Q, K, V[, Mask]) {scale} -> Y
//
// Every value between Q/K/V and Y must be read only inside the pattern. The kernel checks shapes at
// run time and hands anything unusual to the reference, which is this composition itself, so a match
// never changes an answer or an error; the fast kernel never materializes the [B, H, S, S] scores.
#include "opt/graph_pattern.h"

namespace kiln::opt {
namespace {

struct AttentionMatch {
  std::string q, k, v, mask;
  float scale = 1.0f;
  std::vector<size_t> nodes;  // every node of the pattern but the last
};

// The input of a Transpose producing `value` with exactly `perm`; "" otherwise.
std::string transposed_from(const GraphPattern& p, const std::string& value, const std::vector<int64_t>& perm,
                            std::vector<size_t>* nodes) {
  size_t i = 0;
  const ir::Node* t = p.producer(value, "Transpose", &i);
  if (t == nullptr || !p.is_internal(value) || t->inputs.size() != 1 || t->attr_ints("perm") != perm) return "";
  nodes->push_back(i);
  return t->inputs[0];
}

bool softmax_on_last_axis(const ir::Node& n, int64_t opset) {
  const int64_t axis = n.attr_int("axis", opset < 13 ? 1 : -1);
  // Before opset 13 Softmax flattens from `axis` on; from the last axis that is the same thing.
  return axis == -1 || axis == 3;
}

// scores = [Div(·, c) | Mul(·, c)] MatMul(Transpose(Q, [0,2,1,3]), Transpose(K, [0,2,3,1])).
bool match_scores(const GraphPattern& p, std::string scores, AttentionMatch* m) {
  if (!p.is_internal(scores)) return false;
  size_t i = 0;
  if (const ir::Node* div = p.producer(scores, "Div", &i)) {
    float c = 0;
    if (div->inputs.size() != 2 || !p.scalar_constant(div->inputs[1], &c) || c == 0) return false;
    m->scale = 1.0f / c;
    scores = div->inputs[0];
    m->nodes.push_back(i);
  } else if (const ir::Node* mul = p.producer(scores, "Mul", &i)) {
    scores = p.beside_scalar_constant(*mul, &m->scale);
    if (scores.empty()) return false;
    m->nodes.push_back(i);
  }
  const ir::Node* qk = p.producer(scores, "MatMul", &i);
  if (qk == nullptr || !p.is_internal(scores) || qk->inputs.size() != 2) return false;
  m->nodes.push_back(i);
  m->q = transposed_from(p, qk->inputs[0], {0, 2, 1, 3}, &m->nodes);
  m->k = transposed_from(p, qk->inputs[1], {0, 2, 3, 1}, &m->nodes);
  return !m->q.empty() && !m->k.empty();
}

bool match_attention(const GraphPattern& p, const ir::Node& last, int64_t opset, AttentionMatch* m) {
  if (!last.domain.empty() || last.op_type != "Transpose" || last.outputs.size() != 1) return false;
  if (last.attr_ints("perm") != std::vector<int64_t>{0, 2, 1, 3} || last.inputs.size() != 1) return false;
  std::vector<size_t>& nodes = m->nodes;
  size_t i = 0;
  const std::string& o = last.inputs[0];
  const ir::Node* pv = p.producer(o, "MatMul", &i);
  if (pv == nullptr || !p.is_internal(o) || pv->inputs.size() != 2) return false;
  nodes.push_back(i);
  const std::string probs = pv->inputs[0];
  m->v = transposed_from(p, pv->inputs[1], {0, 2, 1, 3}, &nodes);
  const ir::Node* softmax = p.producer(probs, "Softmax", &i);
  if (m->v.empty() || softmax == nullptr || !p.is_internal(probs) || !softmax_on_last_axis(*softmax, opset)) {
    return false;
  }
  nodes.push_back(i);
  const std::string scores = softmax->inputs.empty() ? "" : softmax->inputs[0];
  if (!p.is_internal(scores)) return false;
  // With a mask, either operand of the Add may be the scores (the mask is often a Mul itself).
  if (const ir::Node* add = p.producer(scores, "Add", &i)) {
    if (add->inputs.size() != 2) return false;
    for (size_t k = 0; k < 2; ++k) {
      AttentionMatch trial = *m;
      trial.nodes.push_back(i);
      trial.mask = add->inputs[1 - k];
      if (match_scores(p, add->inputs[k], &trial)) {
        *m = std::move(trial);
        return true;
      }
    }
    return false;
  }
  return match_scores(p, scores, m);
}

}  // namespace

Expected<bool> fuse_attention(ir::Graph& graph, const PassContext& ctx) {
  auto opset_it = ctx.opsets.find("");
  if (opset_it == ctx.opsets.end()) return false;
  GraphPattern pattern(graph);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    AttentionMatch m;
    if (pattern.consumed()[i] || !match_attention(pattern, graph.nodes[i], opset_it->second, &m)) continue;
    pattern.absorb(m.nodes, i);
    std::vector<std::string> inputs = {m.q, m.k, m.v};
    if (!m.mask.empty()) inputs.push_back(m.mask);
    become_kiln_node(graph.nodes[i], "Attention", std::move(inputs), {ir::Attribute::of_float("scale", m.scale)});
  }
  return pattern.erase_absorbed(graph);
}

}  // namespace kiln::opt
