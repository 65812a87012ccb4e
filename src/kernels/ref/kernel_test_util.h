// Test helper: builds the registered kernel for one node and runs it on given inputs, without a model,
// so unit tests can reach error paths and edge cases that the ONNX backend suite does not cover.
#pragma once

#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace kiln::ref::testing {

inline ir::Attribute int_attr(const std::string& name, int64_t v) { return ir::Attribute::of_int(name, v); }

inline ir::Attribute ints_attr(const std::string& name, std::vector<int64_t> v) { return ir::Attribute::of_ints(name, v); }

inline ir::Attribute float_attr(const std::string& name, float v) { return ir::Attribute::of_float(name, v); }

inline ir::Attribute string_attr(const std::string& name, const std::string& v) { return ir::Attribute::of_string(name, v); }

inline ir::Attribute strings_attr(const std::string& name, const std::vector<std::string>& v) { return ir::Attribute::of_strings(name, v); }

inline ir::Node make_node(const std::string& op, std::vector<ir::Attribute> attrs = {},
                          const std::string& domain = "") {
  ir::Node n;
  n.op_type = op;
  n.domain = domain;
  n.attributes = std::move(attrs);
  return n;
}

struct NodeRun {
  Status status;
  std::vector<Value> outputs;
};

// Builds and runs the kernel for `node` at `opset`. A kNone input, or an undefined Tensor, stands for an
// omitted optional input.
inline NodeRun run_node(const ir::Node& node, int64_t opset, const std::vector<Value>& inputs,
                        size_t num_outputs = 1) {
  const KernelRegistration* reg = KernelRegistry::global().find(node.domain, node.op_type, opset);
  if (reg == nullptr) return {Status::NotFound("no kernel for " + node.op_type), {}};
  KernelBuildContext build{node, opset, nullptr};
  auto kernel = reg->factory(build);
  if (!kernel.ok()) return {kernel.status(), {}};
  std::vector<const Value*> ptrs;
  for (const Value& v : inputs) {
    const bool omitted = v.is_none() || (v.is_tensor() && !v.tensor().defined());
    ptrs.push_back(omitted ? nullptr : &v);
  }
  std::vector<Value> outputs(num_outputs);
  KernelContext ctx(ptrs, &outputs, nullptr);
  Status st = (*kernel)->run(ctx);
  return {std::move(st), std::move(outputs)};
}

}  // namespace kiln::ref::testing
