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
  // The same for a kiln-domain `op_type` node (the blocked-layout fusions match those).
  const ir::Node* kiln_producer(const std::string& value, const std::string& op_type, size_t* index = nullptr) const;
  // True if no node produces `value` (a graph input, an initializer, or an omitted input "").
  bool is_source(const std::string& value) const { return value.empty() || !producer_.count(value); }
  // True if `value` may disappear inside a fusion: not a graph output or read by a subgraph, and read
  // by exactly `readers` node inputs (a node reading it twice counts twice).
  bool is_internal(const std::string& value, int readers = 1) const;
  // The value of a constant float32 tensor of one element and rank 0 or 1, or false.
  bool scalar_constant(const std::string& value, float* out) const;
  bool is_scalar_constant(const std::string& value, float expected, float rel_tolerance = 1e-6f) const;
  // For a two-input node with a scalar constant operand (inputs[1] tried first): the other operand,
  // with the constant's value in *constant; "" when neither operand is one.
  std::string beside_scalar_constant(const ir::Node& n, float* constant) const;
  // The same for a scalar constant equal to `expected` (within rel_tolerance), as is_scalar_constant.
  std::string beside_scalar_constant(const ir::Node& n, float expected, float rel_tolerance = 1e-6f) const;

  // Marks nodes as taken by a match: later producer() calls do not return them.
  void consume(size_t index) { consumed_[index] = true; }
  const std::vector<bool>& consumed() const { return consumed_; }

  // Takes a match that `kept` ends: it and every node in `absorbed` are consumed; the absorbed ones
  // are erased by erase_absorbed(), while the caller rewrites `kept` into the fused node.
  void absorb(const std::vector<size_t>& absorbed, size_t kept);
  // Erases the absorbed nodes from `graph` (the graph this pattern reads; call it once, last) and
  // returns whether any match was taken.
  bool erase_absorbed(ir::Graph& graph);

 private:
  const ir::Node* producer_in(const std::string& domain, const std::string& value, const std::string& op_type,
                              size_t* index) const;

  const ir::Graph& graph_;
  ValueUses uses_;
  std::map<std::string, size_t> producer_;
  std::vector<bool> consumed_;
  std::vector<bool> absorbed_;
  bool matched_ = false;
};

// Turns `n` into the kiln-domain node `op_type` reading `inputs`, with `attributes` only; its outputs
// stay. The last step of a fusion: the node that ended the pattern becomes the fused node.
void become_kiln_node(ir::Node& n, std::string op_type, std::vector<std::string> inputs,
                      std::vector<ir::Attribute> attributes);

// For a commutative binary node: the input that is not `one`, or "" when neither input is `one`.
// (When both are, returns `one`.)
std::string other_input(const ir::Node& n, const std::string& one);

// The constant float32 4-D weights of a kiln.BlockedConv with one output and no Sum (inputs X, W, B?),
// whose bias is absent or a constant vector and whose auto_pad is NOTSET; else nullptr. Where the
// blocked pair fusions (fuse_blocked_conv_depthwise, fuse_blocked_stem_depthwise) start.
const Tensor* blocked_conv_constant_weights(const ir::Graph& graph, const ValueUses& uses, const ir::Node& n);
// The bias input of such a convolution, "" when it has none.
std::string blocked_conv_bias(const ir::Node& conv);

// The constant float32 weights [M, C, 1, 1] of a kiln.BlockedConv that is a plain 1x1 convolution:
// one output, stride 1, no padding, group 1, dilation 1, auto_pad NOTSET, blocked input, no input
// activation, a bias that is absent or a constant vector, and a residual Sum (input 3) only where
// `sum_allowed`; else nullptr. What the squeeze-excite fusions take.
const Tensor* pointwise_blocked_conv_weights(const ir::Graph& graph, const ValueUses& uses, const ir::Node& n,
                                             bool sum_allowed);

// A kiln node `op_type` standing for kiln.BlockedConv `first` and the depthwise kiln.BlockedConv
// `depthwise` that reads its result: inputs (X, W, B, DW, DB) with empty names for absent biases, the
// depthwise convolution's outputs, and its name (or the first's). Attributes are the caller's.
ir::Node fused_conv_pair(const std::string& op_type, const ir::Node& first, const ir::Node& depthwise);

// Whether every entry of an integer list attribute (strides, dilations, pads) is `value`; true when empty.
bool all_equal(const std::vector<int64_t>& v, int64_t value);

}  // namespace kiln::opt
