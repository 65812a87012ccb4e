// Reading a graph as patterns: who produces a value, who reads it, and whether a value is a scalar
// constant. The fusion passes (fuse_gelu, fuse_layer_norm, fuse_attention...) match chains of nodes
// with these, then replace the chain by one node.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "opt/pass.h"

namespace kiln::opt {

// A snapshot of one graph's data flow. Built once per pass; stays valid while the pass only marks
// nodes for erasure and edits the node it keeps (it indexes graph.nodes by position).
class GraphPattern {
 public:
  explicit GraphPattern(const ir::Graph& graph);

  const ir::Graph& graph() const { return graph_; }
  const ValueUses& uses() const { return uses_; }

  // The node producing `value` when it is a default-domain `op_type` node not already consumed by
  // an earlier match; else nullptr. Its index goes to *index when given.
  const ir::Node* producer(const std::string& value, const std::string& op_type, size_t* index = nullptr) const;
  // True if no node produces `value` (a graph input, an initializer, or an omitted input "").
  bool is_source(const std::string& value) const { return value.empty() || !producer_.count(value); }
  // True if `value` may disappear inside a fusion: not a graph output or read by a subgraph, and read
  // by exactly `readers` node inputs (a node reading it twice counts twice).
  bool is_internal(const std::string& value, int readers = 1) const;
  // The value of a constant float32 tensor of one element and rank 0 or 1, or false.
  bool scalar_constant(const std::string& value, float* out) const;
  bool is_scalar_constant(const std::string& value, float expected, float rel_tolerance = 1e-6f) const;

  // Marks nodes as taken by a match: later producer() calls do not return them.
  void consume(size_t index) { consumed_[index] = true; }
  const std::vector<bool>& consumed() const { return consumed_; }

 private:
  const ir::Graph& graph_;
  ValueUses uses_;
  std::map<std::string, size_t> producer_;
  std::vector<bool> consumed_;
};

// For a commutative binary node: the input that is not `one`, or "" when neither input is `one`.
// (When both are, returns `one`.)
std::string other_input(const ir::Node& n, const std::string& one);

}  // namespace kiln::opt
