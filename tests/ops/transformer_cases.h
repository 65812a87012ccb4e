// Op cases of the transformer-encoder kernels (kiln.Gelu, LayerNormalization and
// kiln.SkipLayerNormalization, kiln.Attention): small shapes that cover the attributes, and BERT-base
// shapes for the perf mode.
#pragma once

#include "op_case.h"

namespace kiln::ops_test {

inline OpCase gelu_case(const std::string& name, Shape x, const std::string& approximate) {
  OpCase c;
  c.name = name;
  c.node = node("Gelu", {attr_string("approximate", approximate)}, "kiln");
  c.opset = 1;
  c.inputs = {random_tensor(std::move(x), 11, -6, 6)};
  c.tolerance = 1e-5;
  return c;
}

inline std::vector<OpCase> gelu_cases() {
  return {gelu_case("gelu erf", {3, 37}, "none"), gelu_case("gelu tanh", {2, 5, 9}, "tanh"),
          gelu_case("gelu erf 1 element", {1}, "none"), gelu_case("gelu erf bert ffn", {1, 16, 3072}, "none")};
}

// BERT-base shapes (sequence 128) for kiln_ops_perf.
inline std::vector<OpCase> transformer_perf_cases() {
  std::vector<OpCase> v;
  v.push_back(gelu_case("bert gelu 128x3072", {1, 128, 3072}, "none"));
  return v;
}

}  // namespace kiln::ops_test
