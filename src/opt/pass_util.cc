// The value-use bookkeeping shared by the graph passes.
#include "opt/pass.h"

#include <vector>

namespace kiln::opt {
namespace {

void collect_subgraph_reads(const ir::Graph& g, std::set<std::string>* names) {
  for (const ir::Node& n : g.nodes) {
    names->insert(n.inputs.begin(), n.inputs.end());
    for (const ir::Attribute& a : n.attributes) {
      if (a.g) collect_subgraph_reads(*a.g, names);
      for (const auto& sg : a.graphs) collect_subgraph_reads(*sg, names);
    }
  }
  for (const ir::ValueInfo& o : g.outputs) names->insert(o.name);
}

}  // namespace

ValueUses value_uses(const ir::Graph& graph) {
  ValueUses u;
  for (const ir::ValueInfo& in : graph.inputs) u.formal_inputs.insert(in.name);
  for (const ir::ValueInfo& out : graph.outputs) u.pinned.insert(out.name);
  for (const ir::Node& n : graph.nodes) {
    for (const std::string& in : n.inputs) {
      if (!in.empty()) ++u.readers[in];
    }
    for (const ir::Attribute& a : n.attributes) {
      if (a.g) collect_subgraph_reads(*a.g, &u.pinned);
      for (const auto& sg : a.graphs) collect_subgraph_reads(*sg, &u.pinned);
    }
  }
  return u;
}

const Tensor* constant_value(const ir::Graph& graph, const ValueUses& uses, const std::string& name) {
  if (name.empty() || uses.formal_inputs.count(name)) return nullptr;
  auto it = graph.initializers.find(name);
  return it == graph.initializers.end() ? nullptr : &it->second;
}

std::string fresh_name(const ir::Graph& graph, const std::string& base) {
  std::set<std::string> taken;
  for (const auto& [name, t] : graph.initializers) taken.insert(name);
  for (const ir::ValueInfo& v : graph.inputs) taken.insert(v.name);
  for (const ir::Node& n : graph.nodes) taken.insert(n.outputs.begin(), n.outputs.end());
  for (int i = 0;; ++i) {
    std::string name = base + (i == 0 ? "" : "_" + std::to_string(i));
    if (!taken.count(name)) return name;
  }
}

const Tensor* float_vector_constant(const ir::Graph& graph, const ValueUses& uses, const std::string& name,
                                    int64_t size) {
  const Tensor* t = constant_value(graph, uses, name);
  if (t == nullptr || t->dtype() != DataType::kFloat32 || t->size() != size || t->rank() != 1) return nullptr;
  return t;
}

std::map<std::string, size_t> producers(const ir::Graph& graph) {
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const std::string& o : graph.nodes[i].outputs) {
      if (!o.empty()) producer[o] = i;
    }
  }
  return producer;
}

bool is_acyclic(const ir::Graph& graph) {
  const std::map<std::string, size_t> producer = producers(graph);
  const size_t n = graph.nodes.size();
  std::vector<std::vector<size_t>> consumers(n);
  std::vector<size_t> pending(n, 0);
  for (size_t i = 0; i < n; ++i) {
    for (const std::string& in : graph.nodes[i].inputs) {
      auto it = producer.find(in);
      if (it == producer.end()) continue;
      consumers[it->second].push_back(i);
      ++pending[i];
    }
  }
  std::vector<size_t> ready;
  for (size_t i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push_back(i);
  }
  size_t done = 0;
  while (!ready.empty()) {
    const size_t i = ready.back();
    ready.pop_back();
    ++done;
    for (size_t c : consumers[i]) {
      if (--pending[c] == 0) ready.push_back(c);
    }
  }
  return done == n;
}

bool is_inference_batchnorm(const ir::Node& n, int64_t opset) {
  if (n.op_type != "BatchNormalization" || !n.domain.empty() || n.inputs.size() != 5) return false;
  if (opset < 7 || (opset < 9 && n.attr_int("spatial", 1) == 0)) return false;
  if (opset >= 14 && n.attr_int("training_mode", 0) != 0) return false;
  for (size_t i = 1; i < n.outputs.size(); ++i) {
    if (!n.outputs[i].empty()) return false;  // extra outputs: training mode before opset 14
  }
  return true;
}

void rename_reads(ir::Graph& graph, const std::string& from, const std::string& to) {
  for (ir::Node& n : graph.nodes) {
    for (std::string& in : n.inputs) {
      if (in == from) in = to;
    }
  }
}

void erase_nodes(ir::Graph& graph, const std::vector<bool>& erase) {
  size_t k = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (erase[i]) continue;
    if (k != i) graph.nodes[k] = std::move(graph.nodes[i]);  // self-move would empty the node
    ++k;
  }
  graph.nodes.resize(k);
}

}  // namespace kiln::opt
