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

struct LayerNormSpec {
  Shape x;
  Shape scale, bias;  // bias empty: none
  int64_t axis = -1;
  bool skip = false;  // kiln.SkipLayerNormalization with a second input of x's shape (or skip_shape)
  Shape skip_shape;
  size_t outputs = 1;
  std::string domain = "";
};

inline OpCase layer_norm_case(const std::string& name, const LayerNormSpec& s) {
  OpCase c;
  c.name = name;
  std::vector<ir::Attribute> attrs = {attr_int("axis", s.axis), attr_float("epsilon", 1e-5f)};
  if (s.skip) {
    c.node = node("SkipLayerNormalization", attrs, "kiln");
    c.opset = 1;
  } else {
    c.node = node("LayerNormalization", attrs, s.domain);
    c.opset = s.domain.empty() ? 17 : 1;
  }
  // An offset mean and a small spread: the variance must not come from E[x^2] - mean^2.
  c.inputs = {random_tensor(s.x, 31, 99, 101)};
  if (s.skip) c.inputs.push_back(random_tensor(s.skip_shape.empty() ? s.x : s.skip_shape, 32, -1, 1));
  c.inputs.push_back(random_tensor(s.scale, 33, 0.5, 1.5));
  c.inputs.push_back(s.bias.empty() ? Tensor() : random_tensor(s.bias, 34));
  c.constant = std::vector<bool>(c.inputs.size(), false);
  c.num_outputs = s.outputs;
  c.tolerance = 1e-4;
  return c;
}

inline std::vector<OpCase> layer_norm_cases() {
  std::vector<OpCase> v;
  v.push_back(layer_norm_case("layernorm last axis", {.x = {2, 5, 48}, .scale = {48}, .bias = {48}}));
  v.push_back(layer_norm_case("layernorm odd width", {.x = {3, 37}, .scale = {37}, .bias = {37}}));
  v.push_back(layer_norm_case("layernorm no bias", {.x = {4, 20}, .scale = {20}}));
  v.push_back(layer_norm_case("layernorm two axes", {.x = {2, 3, 4, 8}, .scale = {4, 8}, .bias = {4, 8}, .axis = -2}));
  v.push_back(
      layer_norm_case("layernorm kiln domain", {.x = {2, 5, 24}, .scale = {24}, .bias = {24}, .domain = "kiln"}));
  v.push_back(layer_norm_case("layernorm many rows", {.x = {8, 128, 64}, .scale = {64}, .bias = {64}}));
  // Handed to the reference: broadcast scale, Mean/InvStdDev outputs.
  v.push_back(layer_norm_case("layernorm broadcast scale", {.x = {2, 3, 16}, .scale = {1}, .bias = {16}}));
  v.push_back(layer_norm_case("layernorm scale of a suffix", {.x = {2, 3, 1, 16}, .scale = {16}, .axis = 2}));
  v.push_back(
      layer_norm_case("layernorm with statistics", {.x = {2, 3, 16}, .scale = {16}, .bias = {16}, .outputs = 3}));
  v.push_back(layer_norm_case("skip layernorm", {.x = {2, 7, 40}, .scale = {40}, .bias = {40}, .skip = true}));
  v.push_back(layer_norm_case("skip layernorm with sum",
                              {.x = {2, 7, 40}, .scale = {40}, .bias = {40}, .skip = true, .outputs = 2}));
  v.push_back(layer_norm_case("skip layernorm many rows", {.x = {4, 128, 96}, .scale = {96}, .skip = true}));
  v.push_back(
      layer_norm_case("skip layernorm broadcast skip",
                      {.x = {2, 7, 40}, .scale = {40}, .bias = {40}, .skip = true, .skip_shape = {40}, .outputs = 2}));
  return v;
}

struct AttentionSpec {
  Shape q, k, v;
  Shape mask;  // empty: no mask
  float scale = 0.125f;
};

inline OpCase attention_case(const std::string& name, const AttentionSpec& s) {
  OpCase c;
  c.name = name;
  c.node = node("Attention", {attr_float("scale", s.scale)}, "kiln");
  c.opset = 1;
  c.inputs = {random_tensor(s.q, 21, -2, 2), random_tensor(s.k, 22, -2, 2), random_tensor(s.v, 23)};
  if (!s.mask.empty()) c.inputs.push_back(random_tensor(s.mask, 24, -10, 0));
  c.tolerance = 1e-5;
  return c;
}

inline std::vector<OpCase> attention_cases() {
  std::vector<OpCase> v;
  v.push_back(attention_case("attention", {.q = {2, 8, 3, 16}, .k = {2, 8, 3, 16}, .v = {2, 8, 3, 16}}));
  v.push_back(attention_case("attention odd sizes", {.q = {1, 7, 2, 5}, .k = {1, 19, 2, 5}, .v = {1, 19, 2, 3}}));
  v.push_back(attention_case("attention key mask [B,1,1,Sk]",
                             {.q = {2, 9, 2, 8}, .k = {2, 17, 2, 8}, .v = {2, 17, 2, 8}, .mask = {2, 1, 1, 17}}));
  v.push_back(attention_case("attention full mask [B,H,Sq,Sk]",
                             {.q = {2, 6, 3, 4}, .k = {2, 6, 3, 4}, .v = {2, 6, 3, 4}, .mask = {2, 3, 6, 6}}));
  v.push_back(attention_case("attention causal mask [Sq,Sk]",
                             {.q = {1, 33, 2, 8}, .k = {1, 33, 2, 8}, .v = {1, 33, 2, 8}, .mask = {33, 33}}));
  v.push_back(attention_case("attention mask over queries only",
                             {.q = {1, 5, 2, 4}, .k = {1, 6, 2, 4}, .v = {1, 6, 2, 4}, .mask = {1, 1, 5, 1}}));
  // Long keys: the score tile holds 16 query rows at a time, so queries split into several blocks.
  v.push_back(attention_case("attention blocks of query rows",
                             {.q = {1, 40, 2, 8}, .k = {1, 1100, 2, 8}, .v = {1, 1100, 2, 8}, .scale = 0.3f}));
  // Shapes the fast kernel does not take: the reference's broadcasts and errors.
  v.push_back(attention_case("attention broadcast K batch", {.q = {2, 4, 2, 4}, .k = {1, 4, 2, 4}, .v = {2, 4, 2, 4}}));
  return v;
}

// BERT-base shapes (sequence 128) for kiln_ops_perf.
inline std::vector<OpCase> transformer_perf_cases() {
  std::vector<OpCase> v;
  v.push_back(gelu_case("bert gelu 128x3072", {1, 128, 3072}, "none"));
  for (int64_t b : {1, 8}) {
    v.push_back(layer_norm_case("bert skip layernorm 128x768 batch " + std::to_string(b),
                                {.x = {b, 128, 768}, .scale = {768}, .bias = {768}, .skip = true}));
    v.push_back(attention_case("bert attention 12x128x64 batch " + std::to_string(b),
                               {.q = {b, 128, 12, 64}, .k = {b, 128, 12, 64}, .v = {b, 128, 12, 64}}));
  }
  return v;
}

}  // namespace kiln::ops_test
