// Test helper for the resize/signal/text kernels: builds one node's kernel from the registry and runs it
// on given inputs, without a model.
#pragma once

#include <gtest/gtest.h>

#include "kernels/kernel.h"

namespace kiln::ref::testing {

struct NodeRun {
  Status status;
  std::vector<Value> outputs;
};

// Runs `node` at `opset` on `inputs` (an undefined Tensor stands for an omitted optional input).
inline NodeRun run_node(const ir::Node& node, int64_t opset, const std::vector<Tensor>& inputs, size_t num_outputs = 1) {
  NodeRun r;
  const KernelRegistration* reg = KernelRegistry::global().find(node.domain, node.op_type, opset);
  if (!reg) {
    r.status = Status::NotFound("no kernel for " + node.op_type);
    return r;
  }
  KernelBuildContext b{node, opset, nullptr};
  auto kernel = reg->factory(b);
  if (!kernel.ok()) {
    r.status = kernel.status();
    return r;
  }
  std::vector<Value> values;
  for (const Tensor& t : inputs) values.push_back(t.defined() ? Value(t) : Value());
  std::vector<const Value*> ptrs;
  for (const Value& v : values) ptrs.push_back(v.is_none() ? nullptr : &v);
  r.outputs.resize(num_outputs);
  KernelContext ctx(ptrs, &r.outputs, nullptr);
  r.status = (*kernel)->run(ctx);
  return r;
}

inline ir::Attribute int_attr(const std::string& name, int64_t v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kInt;
  a.i = v;
  return a;
}

inline ir::Attribute string_attr(const std::string& name, const std::string& v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kString;
  a.s = v;
  return a;
}

inline ir::Attribute strings_attr(const std::string& name, const std::vector<std::string>& v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kStrings;
  a.strings = v;
  return a;
}

inline ir::Node make_node(const std::string& op, std::vector<ir::Attribute> attrs = {}) {
  ir::Node n;
  n.op_type = op;
  n.attributes = std::move(attrs);
  return n;
}

}  // namespace kiln::ref::testing
