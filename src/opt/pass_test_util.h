// Test helpers for the graph passes: build small graphs and run them (through GraphPlan, with the
// registered kernels) before and after a pass.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "exec/graph_plan.h"
#include "opt/pass.h"

namespace kiln::opt::testing {

inline ir::Node make(const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
                     std::vector<ir::Attribute> attrs = {}) {
  ir::Node n;
  n.op_type = op;
  n.name = out.empty() ? op : out[0];
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.attributes = std::move(attrs);
  return n;
}

inline ir::Attribute ints(const std::string& name, std::vector<int64_t> v) { return ir::Attribute::of_ints(name, v); }

inline ir::Attribute real(const std::string& name, float v) { return ir::Attribute::of_float(name, v); }

inline ir::ValueInfo float_value(const std::string& name) {
  ir::ValueInfo v;
  v.name = name;
  v.type.kind = ir::TypeInfo::Kind::kTensor;
  v.type.elem_type = DataType::kFloat32;
  return v;
}

inline Tensor ramp(Shape shape, float scale = 0.1f, float offset = -0.5f) {
  Tensor t(DataType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = offset + scale * static_cast<float>((i * 7) % 13);
  return t;
}

inline std::map<std::string, int64_t> opsets(int64_t v = 17) { return {{"", v}, {"kiln", 1}}; }

// Runs `g` on `inputs` (by formal input order).
inline std::vector<Value> run(const ir::Graph& g, const std::vector<Tensor>& inputs, int64_t opset = 17) {
  auto plan = GraphPlan::build(g, opsets(opset), {});
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  if (!plan.ok()) return {};
  // An undefined tensor leaves the input unset, so its initializer (if any) is used.
  std::vector<const Value*> bound;
  std::vector<Value> in(inputs.begin(), inputs.end()), out;
  for (size_t i = 0; i < in.size(); ++i) bound.push_back(inputs[i].defined() ? &in[i] : nullptr);
  const Status st = (*plan)->run_bound(bound, nullptr, &out);
  EXPECT_TRUE(st.ok()) << st.to_string();
  return out;
}

inline void expect_close(const std::vector<Value>& a, const std::vector<Value>& b, double tol = 1e-4) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t o = 0; o < a.size(); ++o) {
    const Tensor& x = a[o].tensor();
    const Tensor& y = b[o].tensor();
    ASSERT_EQ(x.shape(), y.shape());
    for (int64_t i = 0; i < x.size(); ++i) {
      EXPECT_NEAR(x.data<float>()[i], y.data<float>()[i], tol * (1 + std::fabs(y.data<float>()[i]))) << "at " << i;
    }
  }
}

inline int count_op(const ir::Graph& g, const std::string& op) {
  int n = 0;
  for (const ir::Node& node : g.nodes) n += node.op_type == op;
  return n;
}

}  // namespace kiln::opt::testing
