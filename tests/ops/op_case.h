// The differential harness for fast kernels: one small struct per op case. A case is one node (op,
// attributes, opset) and its inputs, some of them constants (initializers, so the fast kernel may
// pre-pack them). run_case() builds the registered (fastest) kernel and the reference kernel for the
// node the way GraphPlan does, runs both, and compares every output with the case's tolerance.
//
// The same cases drive tests/ops/ops_test.cc (correctness) and tests/ops/ops_perf.cc (timing).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace kiln::ops_test {

struct OpCase {
  std::string name;  // for messages: "conv 3x3 s2 pad1 [1,64,56,56]"
  ir::Node node;
  int64_t opset = 17;
  std::vector<Tensor> inputs;  // an undefined Tensor is an omitted optional input
  std::vector<bool> constant;  // per input: an initializer (missing entries: false)
  size_t num_outputs = 1;
  double tolerance = 1e-4;  // |fast - ref| <= tolerance * (1 + |ref|)
  // The fast kernel must compute this case itself, not hand it to its reference (which would make the
  // comparison one of the reference with itself): checked where the kernel counts its fallbacks
  // (kernels/reference_fallbacks.h).
  bool expect_fast = false;
};

// A built kernel pair for a case.
struct KernelPair {
  std::unique_ptr<Kernel> fast;  // what the registry picks (a oneDNN kernel where one applies)
  std::unique_ptr<Kernel> ref;   // the reference (priority 0)
  int fast_priority = 0;
};

inline Expected<KernelPair> build_pair(const OpCase& c) {
  KernelRegistry& reg = KernelRegistry::global();
  const KernelRegistration* fast = reg.find(c.node.domain, c.node.op_type, c.opset);
  const KernelRegistration* ref = reg.find_below(c.node.domain, c.node.op_type, c.opset, 1);
  if (fast == nullptr || ref == nullptr) return Status::NotFound("no kernel for " + c.node.op_type);
  auto constant = [&c](size_t i) -> const Tensor* {
    const bool is_const = i < c.constant.size() && c.constant[i] && i < c.inputs.size() && c.inputs[i].defined();
    return is_const ? &c.inputs[i] : nullptr;
  };
  KernelBuildContext b{c.node, c.opset, nullptr, constant};
  KernelPair p;
  p.fast_priority = fast->priority;
  KILN_ASSIGN_OR_RETURN(p.fast, fast->factory(b));
  KILN_ASSIGN_OR_RETURN(p.ref, ref->factory(b));
  return p;
}

inline Status run_kernel(const Kernel& k, const OpCase& c, std::vector<Value>* outputs) {
  std::vector<Value> values;
  values.reserve(c.inputs.size());
  for (const Tensor& t : c.inputs) values.push_back(t.defined() ? Value(t) : Value());
  std::vector<const Value*> ptrs;
  for (const Value& v : values) ptrs.push_back(v.is_none() ? nullptr : &v);
  outputs->assign(c.num_outputs, Value());
  KernelContext ctx(ptrs, outputs, nullptr);
  return k.run(ctx);
}

// Empty on agreement; otherwise the first difference, named.
inline std::string compare_outputs(const OpCase& c, const std::vector<Value>& fast, const std::vector<Value>& ref) {
  for (size_t o = 0; o < ref.size(); ++o) {
    if (!ref[o].is_tensor()) continue;
    const Tensor& r = ref[o].tensor();
    if (!fast[o].is_tensor()) return c.name + ": output " + std::to_string(o) + " missing";
    const Tensor& f = fast[o].tensor();
    if (f.shape() != r.shape() || f.dtype() != r.dtype()) {
      return c.name + ": output " + std::to_string(o) + " shape " + shape_to_string(f.shape()) + " vs reference " +
             shape_to_string(r.shape());
    }
    if (r.dtype() != DataType::kFloat32) continue;
    for (int64_t i = 0; i < r.size(); ++i) {
      const double a = f.data<float>()[i], b = r.data<float>()[i];
      if (a == b || (std::isnan(a) && std::isnan(b))) continue;  // equal infinities too
      if (!(std::fabs(a - b) <= c.tolerance * (1 + std::fabs(b)))) {
        return c.name + ": output " + std::to_string(o) + " element " + std::to_string(i) + " is " + std::to_string(a) +
               ", reference " + std::to_string(b);
      }
    }
  }
  return "";
}

// Deterministic values in [lo, hi).
inline Tensor random_tensor(Shape shape, uint64_t seed, float lo = -1, float hi = 1) {
  Tensor t(DataType::kFloat32, std::move(shape));
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (int64_t i = 0; i < t.size(); ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    t.data<float>()[i] = lo + (hi - lo) * static_cast<float>((s >> 40) & 0xFFFFFF) / 16777216.0f;
  }
  return t;
}

// Node building.
inline ir::Attribute attr_int(const std::string& name, int64_t v) { return ir::Attribute::of_int(name, v); }
inline ir::Attribute attr_ints(const std::string& name, std::vector<int64_t> v) {
  return ir::Attribute::of_ints(name, v);
}
inline ir::Attribute attr_float(const std::string& name, float v) { return ir::Attribute::of_float(name, v); }
inline ir::Attribute attr_floats(const std::string& name, std::vector<float> v) {
  return ir::Attribute::of_floats(name, v);
}
inline ir::Attribute attr_string(const std::string& name, std::string v) { return ir::Attribute::of_string(name, v); }
inline ir::Node node(const std::string& op, std::vector<ir::Attribute> attrs, const std::string& domain = "") {
  ir::Node n;
  n.op_type = op;
  n.domain = domain;
  n.name = op;
  n.attributes = std::move(attrs);
  return n;
}

}  // namespace kiln::ops_test
