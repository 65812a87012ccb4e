// The op cases of the differential harness, one builder per fast-kernel family. Shapes cover the
// attribute space (groups, depthwise, dilation, padding, auto_pad, transposes, broadcasting, axes…)
// at small sizes; perf_cases() holds real layer shapes (ResNet-50, MobileNetV2, BERT-base, DCGAN).
#pragma once

#include "op_case.h"

namespace kiln::ops_test {

struct ConvSpec {
  Shape x, w;
  int64_t group = 1;
  std::vector<int64_t> strides, pads, dilations;
  std::string auto_pad;
  bool bias = true;
  bool const_weights = true;
};

inline OpCase conv_case(const std::string& name, const ConvSpec& s, const std::string& activation = "",
                        std::vector<float> params = {}) {
  std::vector<ir::Attribute> attrs;
  if (s.group != 1) attrs.push_back(attr_int("group", s.group));
  if (!s.strides.empty()) attrs.push_back(attr_ints("strides", s.strides));
  if (!s.pads.empty()) attrs.push_back(attr_ints("pads", s.pads));
  if (!s.dilations.empty()) attrs.push_back(attr_ints("dilations", s.dilations));
  if (!s.auto_pad.empty()) attrs.push_back(attr_string("auto_pad", s.auto_pad));
  OpCase c;
  c.name = name;
  if (activation.empty()) {
    c.node = node("Conv", attrs);
  } else {
    attrs.push_back(attr_string("activation", activation));
    if (!params.empty()) attrs.push_back(attr_floats("activation_params", params));
    c.node = node("FusedConv", attrs, "kiln");
    c.opset = 1;
  }
  c.inputs = {random_tensor(s.x, 1), random_tensor(s.w, 2)};
  if (s.bias) c.inputs.push_back(random_tensor({s.w[0]}, 3));
  c.constant = {false, s.const_weights, s.const_weights};
  int64_t k = s.w[1];
  for (size_t d = 2; d < s.w.size(); ++d) k *= s.w[d];
  c.tolerance = 1e-5 * static_cast<double>(k) + 1e-5;  // float sums of k products, in another order
  c.expect_fast = true;                                // oneDNN has a primitive for every Conv here
  return c;
}

inline std::vector<OpCase> conv_cases() {
  std::vector<OpCase> v;
  v.push_back(conv_case("conv 3x3", {{1, 3, 8, 8}, {4, 3, 3, 3}}));
  v.push_back(conv_case("conv 3x3 no bias", {.x = {2, 3, 7, 9}, .w = {5, 3, 3, 3}, .bias = false}));
  v.push_back(conv_case("conv 3x3 pad1", {.x = {1, 8, 10, 10}, .w = {16, 8, 3, 3}, .pads = {1, 1, 1, 1}}));
  v.push_back(conv_case("conv asym pads", {.x = {1, 4, 9, 7}, .w = {6, 4, 3, 2}, .pads = {0, 1, 2, 1}}));
  v.push_back(
      conv_case("conv s2", {.x = {2, 16, 15, 15}, .w = {32, 16, 3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}}));
  v.push_back(conv_case("conv dilated", {.x = {1, 8, 12, 12}, .w = {8, 8, 3, 3}, .dilations = {2, 2}}));
  v.push_back(conv_case(
      "conv dilated s2 pad",
      {.x = {1, 4, 13, 11}, .w = {8, 4, 3, 3}, .strides = {2, 1}, .pads = {2, 2, 2, 2}, .dilations = {2, 3}}));
  v.push_back(conv_case("conv grouped", {.x = {1, 8, 9, 9}, .w = {12, 2, 3, 3}, .group = 4, .pads = {1, 1, 1, 1}}));
  v.push_back(
      conv_case("conv depthwise", {.x = {2, 32, 14, 14}, .w = {32, 1, 3, 3}, .group = 32, .pads = {1, 1, 1, 1}}));
  v.push_back(
      conv_case("conv depthwise s2",
                {.x = {1, 16, 15, 15}, .w = {16, 1, 5, 5}, .group = 16, .strides = {2, 2}, .pads = {2, 2, 2, 2}}));
  v.push_back(conv_case("conv 1x1", {{4, 64, 7, 7}, {128, 64, 1, 1}}));
  v.push_back(conv_case("conv 7x7 s2 stem",
                        {.x = {1, 3, 32, 32}, .w = {16, 3, 7, 7}, .strides = {2, 2}, .pads = {3, 3, 3, 3}}));
  v.push_back(conv_case("conv same_upper",
                        {.x = {1, 4, 10, 9}, .w = {8, 4, 3, 3}, .strides = {2, 2}, .auto_pad = "SAME_UPPER"}));
  v.push_back(conv_case("conv same_lower",
                        {.x = {1, 4, 10, 9}, .w = {8, 4, 4, 4}, .strides = {2, 2}, .auto_pad = "SAME_LOWER"}));
  v.push_back(conv_case("conv valid", {.x = {1, 4, 10, 9}, .w = {8, 4, 3, 3}, .auto_pad = "VALID"}));
  v.push_back(conv_case("conv 1d", {.x = {2, 6, 20}, .w = {4, 6, 5}, .strides = {2}, .pads = {2, 1}}));
  v.push_back(conv_case("conv 3d", {.x = {1, 4, 6, 7, 8}, .w = {6, 4, 3, 3, 3}, .pads = {1, 1, 1, 1, 1, 1}}));
  v.push_back(conv_case("conv runtime weights",
                        {.x = {1, 8, 10, 10}, .w = {16, 8, 3, 3}, .pads = {1, 1, 1, 1}, .const_weights = false}));
  v.push_back(
      conv_case("conv runtime grouped", {.x = {1, 8, 9, 9}, .w = {8, 2, 3, 3}, .group = 4, .const_weights = false}));
  v.push_back(conv_case("conv batch 8 resnet-like", {.x = {8, 32, 14, 14}, .w = {32, 32, 3, 3}, .pads = {1, 1, 1, 1}}));
  return v;
}

struct ConvTransposeSpec {
  Shape x, w;  // w: [C, M/group, k...]
  int64_t group = 1;
  std::vector<int64_t> strides, pads, dilations, output_padding, output_shape;
  std::string auto_pad;
  bool bias = true;
  bool const_weights = true;
  bool fast = true;  // oneDNN computes it (expect_fast)
  std::string activation;     // set: kiln.FusedConvTranspose with this activation
  std::vector<float> params;  // its activation_params
};

inline OpCase conv_transpose_case(const std::string& name, const ConvTransposeSpec& s) {
  std::vector<ir::Attribute> attrs;
  if (s.group != 1) attrs.push_back(attr_int("group", s.group));
  if (!s.strides.empty()) attrs.push_back(attr_ints("strides", s.strides));
  if (!s.pads.empty()) attrs.push_back(attr_ints("pads", s.pads));
  if (!s.dilations.empty()) attrs.push_back(attr_ints("dilations", s.dilations));
  if (!s.output_padding.empty()) attrs.push_back(attr_ints("output_padding", s.output_padding));
  if (!s.output_shape.empty()) attrs.push_back(attr_ints("output_shape", s.output_shape));
  if (!s.auto_pad.empty()) attrs.push_back(attr_string("auto_pad", s.auto_pad));
  OpCase c;
  c.name = name;
  if (s.activation.empty()) {
    c.node = node("ConvTranspose", attrs);
  } else {
    attrs.push_back(attr_string("activation", s.activation));
    if (!s.params.empty()) attrs.push_back(attr_floats("activation_params", s.params));
    c.node = node("FusedConvTranspose", attrs, "kiln");
    c.opset = 1;
  }
  c.inputs = {random_tensor(s.x, 11), random_tensor(s.w, 12)};
  if (s.bias) c.inputs.push_back(random_tensor({s.w[1] * s.group}, 13));
  c.constant = {false, s.const_weights, s.const_weights};
  int64_t k = s.w[0] / s.group;  // each output sums over C/group channels and the kernel's taps
  for (size_t d = 2; d < s.w.size(); ++d) k *= s.w[d];
  c.tolerance = 1e-5 * static_cast<double>(k) + 1e-5;
  c.expect_fast = s.fast;
  return c;
}

inline std::vector<OpCase> conv_transpose_cases() {
  std::vector<OpCase> v;
  v.push_back(conv_transpose_case("convT 3x3 pad1", {.x = {1, 8, 8, 8}, .w = {8, 4, 3, 3}, .pads = {1, 1, 1, 1}}));
  v.push_back(conv_transpose_case("convT 4x4 s2 pad1 (x2 upsampling)",
                                  {.x = {2, 16, 7, 7}, .w = {16, 8, 4, 4}, .strides = {2, 2}, .pads = {1, 1, 1, 1}}));
  v.push_back(conv_transpose_case(
      "convT 3x3 s2 output_padding",
      {.x = {1, 6, 5, 6}, .w = {6, 5, 3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}, .output_padding = {1, 1}}));
  v.push_back(conv_transpose_case("convT 2x2 s2 no bias",
                                  {.x = {1, 16, 9, 9}, .w = {16, 16, 2, 2}, .strides = {2, 2}, .bias = false}));
  v.push_back(conv_transpose_case("convT asym pads", {.x = {1, 4, 7, 6}, .w = {4, 6, 3, 2}, .pads = {0, 1, 2, 0}}));
  v.push_back(conv_transpose_case("convT strides 3x2", {.x = {1, 4, 5, 5}, .w = {4, 3, 3, 3}, .strides = {3, 2}}));
  v.push_back(conv_transpose_case("convT dilated", {.x = {1, 8, 6, 6}, .w = {8, 8, 3, 3}, .dilations = {2, 2}}));
  // oneDNN's grouped deconvolution is fast from AVX2 on; below, the reference runs (so no expect_fast).
  v.push_back(conv_transpose_case(
      "convT grouped",
      {.x = {1, 32, 6, 6}, .w = {32, 16, 3, 3}, .group = 2, .strides = {2, 2}, .pads = {1, 1, 1, 1}, .fast = false}));
  // Groups of 2 channels: oneDNN has only its reference loop, so kiln's reference runs.
  v.push_back(conv_transpose_case(
      "convT small groups",
      {.x = {1, 8, 6, 6}, .w = {8, 3, 3, 3}, .group = 4, .strides = {2, 2}, .pads = {1, 1, 1, 1}, .fast = false}));
  v.push_back(conv_transpose_case(
      "convT depthwise",
      {.x = {2, 16, 6, 6}, .w = {16, 1, 4, 4}, .group = 16, .strides = {2, 2}, .pads = {1, 1, 1, 1}}));
  v.push_back(conv_transpose_case("convT same_upper",
                                  {.x = {1, 4, 5, 7}, .w = {4, 4, 3, 3}, .strides = {2, 2}, .auto_pad = "SAME_UPPER"}));
  v.push_back(conv_transpose_case("convT same_lower",
                                  {.x = {1, 4, 5, 7}, .w = {4, 4, 4, 4}, .strides = {2, 2}, .auto_pad = "SAME_LOWER"}));
  v.push_back(conv_transpose_case("convT output_shape",
                                  {.x = {1, 4, 5, 5}, .w = {4, 4, 3, 3}, .strides = {2, 2}, .output_shape = {10, 10}}));
  v.push_back(conv_transpose_case("convT 1d", {.x = {2, 6, 20}, .w = {6, 4, 5}, .strides = {2}, .pads = {2, 1}}));
  v.push_back(conv_transpose_case(
      "convT 3d", {.x = {1, 4, 4, 5, 6}, .w = {4, 6, 3, 3, 3}, .strides = {2, 2, 2}, .pads = {1, 1, 1, 1, 1, 1}}));
  v.push_back(conv_transpose_case("convT decoder batch 8",
                                  {.x = {8, 32, 8, 8}, .w = {32, 16, 4, 4}, .strides = {2, 2}, .pads = {1, 1, 1, 1}}));
  // Products of 1 MB per image, at most 2 MB a product: a batch of 3 goes as 2 images, then 1.
  v.push_back(
      conv_transpose_case("convT large columns batch 3", {.x = {3, 4, 32, 32}, .w = {4, 64, 2, 2}, .strides = {2, 2}}));
  // One-pixel products of 800 KB per image: a batch of 5 goes as 2, 2, then 1.
  v.push_back(conv_transpose_case("convT latent large batch 5", {.x = {5, 2, 1, 1}, .w = {2, 3200, 8, 8}}));
  // A one-pixel input (DCGAN's latent vector): the images go through the product as its rows.
  v.push_back(conv_transpose_case("convT latent 1x1 batch 3", {.x = {3, 20, 1, 1}, .w = {20, 8, 4, 4}}));
  v.push_back(conv_transpose_case("convT latent 1x1 s2 pads",
                                  {.x = {2, 16, 1, 1}, .w = {16, 5, 4, 4}, .strides = {2, 2}, .pads = {1, 0, 1, 2}}));
  // An output_shape past the natural size leaves a negative end padding (columns nothing reaches).
  v.push_back(conv_transpose_case("convT output_shape past natural",
                                  {.x = {1, 4, 5, 5}, .w = {4, 4, 3, 3}, .strides = {2, 2}, .output_shape = {12, 13}}));
  v.push_back(conv_transpose_case("convT few output channels",
                                  {.x = {2, 24, 9, 9}, .w = {24, 3, 4, 4}, .strides = {2, 2}, .pads = {1, 1, 1, 1}}));
  // W given at run time: the deconvolution reads it in ONNX's layout (not checked to be fast: which
  // implementation oneDNN has for a strided W depends on the CPU).
  v.push_back(conv_transpose_case(
      "convT runtime weights",
      {.x = {1, 8, 6, 6}, .w = {8, 4, 3, 3}, .strides = {2, 2}, .const_weights = false, .fast = false}));
  // kiln.FusedConvTranspose: the product applies the activation per part of the output (DCGAN's
  // layers: Relu, and Tanh on the last), the deconvolution over Y.
  v.push_back(conv_transpose_case(
      "fused convT relu (x2 upsampling)",
      {.x = {2, 16, 7, 7}, .w = {16, 8, 4, 4}, .strides = {2, 2}, .pads = {1, 1, 1, 1}, .activation = "Relu"}));
  v.push_back(conv_transpose_case("fused convT tanh large columns batch 3",
                                  {.x = {3, 4, 32, 32}, .w = {4, 64, 2, 2}, .strides = {2, 2}, .activation = "Tanh"}));
  v.push_back(
      conv_transpose_case("fused convT clip latent 1x1 batch 3",
                          {.x = {3, 20, 1, 1}, .w = {20, 8, 4, 4}, .activation = "Clip", .params = {-0.5f, 0.5f}}));
  v.push_back(conv_transpose_case("fused convT leaky relu depthwise", {.x = {2, 16, 6, 6},
                                                                       .w = {16, 1, 4, 4},
                                                                       .group = 16,
                                                                       .strides = {2, 2},
                                                                       .pads = {1, 1, 1, 1},
                                                                       .activation = "LeakyRelu",
                                                                       .params = {0.1f}}));
  v.push_back(conv_transpose_case("fused convT hard sigmoid runtime weights", {.x = {1, 8, 6, 6},
                                                                               .w = {8, 4, 3, 3},
                                                                               .strides = {2, 2},
                                                                               .const_weights = false,
                                                                               .fast = false,
                                                                               .activation = "HardSigmoid",
                                                                               .params = {0.3f, 0.4f}}));
  v.push_back(conv_transpose_case(
      "fused convT sigmoid no bias",
      {.x = {1, 16, 9, 9}, .w = {16, 16, 2, 2}, .strides = {2, 2}, .bias = false, .activation = "Sigmoid"}));
  v.push_back(conv_transpose_case(
      "fused convT hard swish 1d",
      {.x = {2, 6, 20}, .w = {6, 4, 5}, .strides = {2}, .pads = {2, 1}, .activation = "HardSwish"}));
  return v;
}

// Random 2-D ConvTranspose geometries (fixed seed): kernel 1-5, stride 1-4, dilation 1-3, asymmetric
// pads, output_padding below the stride, batch 1-3, images of 1-9 pixels a side. Every one is a case
// the product kernel (col2im's phase arithmetic) computes; the reference is the judge.
inline std::vector<OpCase> conv_transpose_random_cases() {
  std::vector<OpCase> v;
  uint64_t state = 12345;
  auto draw = [&state](int64_t lo, int64_t hi) {  // uniform in [lo, hi]
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + static_cast<int64_t>((state >> 33) % static_cast<uint64_t>(hi - lo + 1));
  };
  while (v.size() < 40) {
    ConvTransposeSpec s;
    const int64_t c = draw(1, 9), m = draw(1, 9), kh = draw(1, 5), kw = draw(1, 5);
    s.x = {draw(1, 3), c, draw(1, 9), draw(1, 9)};
    s.w = {c, m, kh, kw};
    s.strides = {draw(1, 4), draw(1, 4)};
    s.dilations = {draw(1, 3), draw(1, 3)};
    s.output_padding = {draw(0, s.strides[0] - 1), draw(0, s.strides[1] - 1)};
    s.pads = {draw(0, kh - 1), draw(0, kw - 1), draw(0, kh - 1), draw(0, kw - 1)};
    s.bias = draw(0, 1) == 1;
    bool positive = true;  // every output size at least 1
    for (int d = 0; d < 2; ++d) {
      const int64_t k = d == 0 ? kh : kw;
      const int64_t out = s.strides[d] * (s.x[2 + d] - 1) + s.output_padding[d] + (k - 1) * s.dilations[d] + 1 -
                          s.pads[d] - s.pads[d + 2];
      positive = positive && out >= 1;
    }
    if (!positive) continue;
    v.push_back(conv_transpose_case("convT random " + std::to_string(v.size()), s));
  }
  return v;
}

inline std::vector<OpCase> fused_conv_cases() {
  const ConvSpec s{.x = {2, 8, 9, 9}, .w = {16, 8, 3, 3}, .pads = {1, 1, 1, 1}};
  const ConvSpec dw{.x = {1, 16, 10, 10}, .w = {16, 1, 3, 3}, .group = 16, .strides = {2, 2}, .pads = {1, 1, 1, 1}};
  std::vector<OpCase> v;
  v.push_back(conv_case("fused relu", s, "Relu"));
  v.push_back(conv_case("fused leaky relu", s, "LeakyRelu", {0.1f}));
  v.push_back(conv_case("fused clip relu6", dw, "Clip", {0.f, 6.f}));
  v.push_back(conv_case("fused clip narrow", s, "Clip", {-0.2f, 0.3f}));
  v.push_back(conv_case("fused sigmoid", s, "Sigmoid"));
  v.push_back(conv_case("fused hard sigmoid", dw, "HardSigmoid", {0.2f, 0.5f}));
  v.push_back(conv_case("fused hard swish", dw, "HardSwish"));
  v.push_back(conv_case("fused tanh", s, "Tanh"));
  v.push_back(conv_case("fused none", s, ""));
  // Depthwise and grouped convolutions run on blocked activations (reordered in and out).
  v.push_back(conv_case("fused depthwise relu6 24ch batch 2",
                        {.x = {2, 24, 11, 13}, .w = {24, 1, 3, 3}, .group = 24, .pads = {1, 1, 1, 1}}, "Clip",
                        {0.f, 6.f}));
  v.push_back(conv_case("fused depthwise no bias relu",
                        {.x = {1, 40, 7, 7}, .w = {40, 1, 5, 5}, .group = 40, .pads = {2, 2, 2, 2}, .bias = false},
                        "Relu"));
  v.push_back(conv_case("fused depthwise multiplier 2 hard swish",
                        {.x = {1, 8, 9, 9}, .w = {16, 1, 3, 3}, .group = 8, .pads = {1, 1, 1, 1}}, "HardSwish"));
  v.push_back(conv_case("fused grouped leaky relu",
                        {.x = {1, 32, 8, 8}, .w = {32, 8, 3, 3}, .group = 4, .pads = {1, 1, 1, 1}}, "LeakyRelu",
                        {0.1f}));
  return v;
}

struct GemmSpec {
  Shape a, b, c;  // c empty: no C
  bool trans_a = false, trans_b = false;
  float alpha = 1, beta = 1;
  bool const_b = true, const_c = true;
};

// Gemm, or kiln.FusedGemm when `activation` is given.
inline OpCase gemm_case(const std::string& name, const GemmSpec& s, const std::string& activation = "",
                        std::vector<float> params = {}) {
  std::vector<ir::Attribute> attrs;
  if (s.trans_a) attrs.push_back(attr_int("transA", 1));
  if (s.trans_b) attrs.push_back(attr_int("transB", 1));
  if (s.alpha != 1) attrs.push_back(attr_float("alpha", s.alpha));
  if (s.beta != 1) attrs.push_back(attr_float("beta", s.beta));
  OpCase c;
  c.name = name;
  c.node = node("Gemm", attrs);
  c.opset = 13;
  if (!activation.empty()) {
    c.node.attributes.push_back(attr_string("activation", activation));
    if (!params.empty()) c.node.attributes.push_back(attr_floats("activation_params", params));
    c.node.op_type = "FusedGemm";
    c.node.domain = "kiln";
    c.opset = 1;
  }
  c.inputs = {random_tensor(s.a, 4), random_tensor(s.b, 5)};
  if (!s.c.empty()) c.inputs.push_back(random_tensor(s.c, 6));
  c.constant = {false, s.const_b, s.const_c};
  const int64_t k = s.trans_a ? s.a[0] : s.a[1];
  c.tolerance = 1e-5 * static_cast<double>(k) + 1e-5;
  c.expect_fast = true;  // oneDNN's matmul takes every case here
  return c;
}

inline std::vector<OpCase> gemm_cases() {
  std::vector<OpCase> v;
  v.push_back(gemm_case("gemm plain", {{4, 8}, {8, 5}, {}}));
  v.push_back(gemm_case("gemm linear bias", {.a = {3, 16}, .b = {10, 16}, .c = {10}, .trans_b = true}));
  v.push_back(gemm_case("gemm bias 1xN", {.a = {3, 16}, .b = {16, 10}, .c = {1, 10}}));
  v.push_back(gemm_case("gemm C MxN", {{5, 7}, {7, 6}, {5, 6}}));
  v.push_back(gemm_case("gemm C Mx1", {{5, 7}, {7, 6}, {5, 1}}));
  v.push_back(gemm_case("gemm C scalar", {{5, 7}, {7, 6}, {1}}));
  v.push_back(gemm_case("gemm transA", {.a = {7, 5}, .b = {7, 6}, .c = {6}, .trans_a = true}));
  v.push_back(
      gemm_case("gemm transA transB", {.a = {7, 5}, .b = {6, 7}, .c = {5, 6}, .trans_a = true, .trans_b = true}));
  v.push_back(gemm_case("gemm alpha beta", {.a = {4, 9}, .b = {9, 3}, .c = {4, 3}, .alpha = 0.5f, .beta = 2.f}));
  v.push_back(gemm_case("gemm alpha bias", {.a = {4, 9}, .b = {9, 3}, .c = {3}, .alpha = -1.5f}));
  v.push_back(gemm_case("gemm beta 0", {.a = {4, 9}, .b = {9, 3}, .c = {3}, .beta = 0.f}));
  v.push_back(gemm_case("gemm runtime B", {.a = {8, 32}, .b = {32, 16}, .c = {16}, .const_b = false}));
  v.push_back(gemm_case("gemm mlp batch 8", {.a = {8, 784}, .b = {1024, 784}, .c = {1024}, .trans_b = true}));
  v.push_back(gemm_case("gemm mlp batch 1", {.a = {1, 784}, .b = {1024, 784}, .c = {1024}, .trans_b = true}));
  // Constant B and C folded at load: alpha into the packed weights, beta * C into the bias.
  v.push_back(
      gemm_case("gemm folded alpha transB", {.a = {5, 24}, .b = {40, 24}, .c = {40}, .trans_b = true, .alpha = 0.5f}));
  v.push_back(
      gemm_case("gemm folded beta row", {.a = {5, 24}, .b = {24, 40}, .c = {1, 40}, .alpha = -2.f, .beta = 3.f}));
  v.push_back(gemm_case("gemm folded scalar C", {.a = {3, 24}, .b = {24, 40}, .c = {1}, .beta = 0.25f}));
  v.push_back(gemm_case("gemm folded beta 0", {.a = {3, 24}, .b = {24, 40}, .c = {40}, .beta = 0.f}));
  v.push_back(gemm_case("gemm const B runtime C",
                        {.a = {5, 24}, .b = {40, 24}, .c = {40}, .trans_b = true, .alpha = 1.5f, .const_c = false}));
  v.push_back(gemm_case("gemm const B C MxN", {.a = {5, 24}, .b = {24, 40}, .c = {5, 40}, .alpha = 0.5f, .beta = 2.f}));
  v.push_back(
      gemm_case("gemm const B transA", {.a = {24, 5}, .b = {40, 24}, .c = {40}, .trans_a = true, .trans_b = true}));
  return v;
}

inline std::vector<OpCase> fused_gemm_cases() {
  const GemmSpec s{.a = {6, 32}, .b = {48, 32}, .c = {48}, .trans_b = true};
  std::vector<OpCase> v;
  v.push_back(gemm_case("fused gemm relu", s, "Relu"));
  v.push_back(gemm_case("fused gemm leaky relu", s, "LeakyRelu", {0.1f}));
  v.push_back(gemm_case("fused gemm clip", s, "Clip", {-0.2f, 0.3f}));
  v.push_back(gemm_case("fused gemm sigmoid", s, "Sigmoid"));
  v.push_back(gemm_case("fused gemm hard sigmoid", s, "HardSigmoid", {0.2f, 0.5f}));
  v.push_back(gemm_case("fused gemm hard swish", s, "HardSwish"));
  v.push_back(gemm_case("fused gemm tanh", s, "Tanh"));
  v.push_back(gemm_case("fused gemm gelu", s, "Gelu"));
  v.push_back(gemm_case("fused gemm none", s, ""));
  v.push_back(gemm_case("fused gemm sum then relu",
                        {.a = {6, 32}, .b = {32, 48}, .c = {6, 48}, .alpha = 0.5f, .beta = 2.f, .const_c = false},
                        "Relu"));
  v.push_back(
      gemm_case("fused gemm runtime B gelu", {.a = {6, 32}, .b = {32, 48}, .c = {48}, .const_b = false}, "Gelu"));
  return v;
}

inline OpCase matmul_case(const std::string& name, Shape a, Shape b, bool const_b = false) {
  OpCase c;
  c.name = name;
  c.node = node("MatMul", {});
  c.opset = 13;
  c.inputs = {random_tensor(a, 7), random_tensor(b, 8)};
  c.constant = {false, const_b};
  c.tolerance = 1e-5 * static_cast<double>(a.back()) + 1e-5;
  c.expect_fast = true;  // oneDNN's matmul takes every case here
  return c;
}

inline std::vector<OpCase> matmul_cases() {
  std::vector<OpCase> v;
  v.push_back(matmul_case("matmul 2d", {4, 6}, {6, 5}));
  v.push_back(matmul_case("matmul const B", {4, 6}, {6, 5}, true));
  v.push_back(matmul_case("matmul 1d x 2d", {6}, {6, 5}));
  v.push_back(matmul_case("matmul 2d x 1d", {4, 6}, {6}));
  v.push_back(matmul_case("matmul 1d x 1d", {6}, {6}));
  v.push_back(matmul_case("matmul batched", {3, 4, 6}, {3, 6, 5}));
  v.push_back(matmul_case("matmul broadcast B", {2, 3, 4, 6}, {6, 5}));
  v.push_back(matmul_case("matmul broadcast A", {4, 6}, {2, 6, 5}));
  v.push_back(matmul_case("matmul broadcast both", {2, 1, 4, 6}, {1, 3, 6, 5}));
  v.push_back(matmul_case("matmul 1d x batched", {6}, {2, 3, 6, 5}));
  v.push_back(matmul_case("matmul attention", {1, 12, 16, 64}, {1, 12, 64, 16}));
  // Constant 2-D B: A's leading dimensions fold into M, and B is pre-packed.
  v.push_back(matmul_case("matmul const B 3d", {2, 3, 24}, {24, 40}, true));
  v.push_back(matmul_case("matmul const B 4d", {2, 2, 3, 24}, {24, 40}, true));
  v.push_back(matmul_case("matmul const B 1d A", {24}, {24, 40}, true));
  v.push_back(matmul_case("matmul const B 1d B", {3, 24}, {24}, true));
  v.push_back(matmul_case("matmul runtime B 3d", {2, 3, 24}, {24, 40}));
  return v;
}

// kiln.FusedMatMul: MatMul (+ bias [N]) (+ activation).
inline OpCase fused_matmul_case(const std::string& name, Shape a, Shape b, bool bias, const std::string& activation,
                                std::vector<float> params = {}, bool const_b = true) {
  OpCase c = matmul_case(name, std::move(a), b, const_b);
  c.node = node("FusedMatMul", {}, "kiln");
  if (!activation.empty()) c.node.attributes.push_back(attr_string("activation", activation));
  if (!params.empty()) c.node.attributes.push_back(attr_floats("activation_params", params));
  c.opset = 1;
  if (bias) c.inputs.push_back(random_tensor({b.back()}, 9));
  c.constant = {false, const_b, true};
  return c;
}

inline std::vector<OpCase> fused_matmul_cases() {
  std::vector<OpCase> v;
  v.push_back(fused_matmul_case("fused matmul bias", {4, 24}, {24, 40}, true, ""));
  v.push_back(fused_matmul_case("fused matmul bias 3d", {2, 5, 24}, {24, 40}, true, ""));
  v.push_back(fused_matmul_case("fused matmul bias gelu 3d", {2, 5, 24}, {24, 40}, true, "Gelu"));
  v.push_back(fused_matmul_case("fused matmul relu no bias", {4, 24}, {24, 40}, false, "Relu"));
  v.push_back(fused_matmul_case("fused matmul bias leaky relu", {4, 24}, {24, 40}, true, "LeakyRelu", {0.1f}));
  v.push_back(fused_matmul_case("fused matmul bias clip", {4, 24}, {24, 40}, true, "Clip", {0.f, 6.f}));
  v.push_back(fused_matmul_case("fused matmul bias sigmoid", {4, 24}, {24, 40}, true, "Sigmoid"));
  v.push_back(
      fused_matmul_case("fused matmul bias hard sigmoid", {4, 24}, {24, 40}, true, "HardSigmoid", {0.2f, 0.5f}));
  v.push_back(fused_matmul_case("fused matmul bias hard swish", {4, 24}, {24, 40}, true, "HardSwish"));
  v.push_back(fused_matmul_case("fused matmul bias tanh", {4, 24}, {24, 40}, true, "Tanh"));
  v.push_back(fused_matmul_case("fused matmul 1d A bias", {24}, {24, 40}, true, "Relu"));
  v.push_back(fused_matmul_case("fused matmul runtime B bias", {2, 5, 24}, {24, 40}, true, "Gelu", {}, false));
  v.push_back(fused_matmul_case("fused matmul batched B bias", {2, 5, 24}, {2, 24, 40}, true, "Relu", {}, false));
  return v;
}

struct PoolSpec {
  std::string op;
  Shape x;
  std::vector<int64_t> kernel, strides, pads, dilations;
  std::string auto_pad;
  bool ceil_mode = false, count_include_pad = false;
};

inline OpCase pool_case(const std::string& name, const PoolSpec& s) {
  std::vector<ir::Attribute> attrs;
  if (!s.kernel.empty()) attrs.push_back(attr_ints("kernel_shape", s.kernel));
  if (!s.strides.empty()) attrs.push_back(attr_ints("strides", s.strides));
  if (!s.pads.empty()) attrs.push_back(attr_ints("pads", s.pads));
  if (!s.dilations.empty()) attrs.push_back(attr_ints("dilations", s.dilations));
  if (!s.auto_pad.empty()) attrs.push_back(attr_string("auto_pad", s.auto_pad));
  if (s.ceil_mode) attrs.push_back(attr_int("ceil_mode", 1));
  if (s.count_include_pad) attrs.push_back(attr_int("count_include_pad", 1));
  OpCase c;
  c.name = name;
  c.node = node(s.op, attrs);
  c.opset = s.op == "MaxPool" ? 12 : 11;
  c.inputs = {random_tensor(s.x, 9)};
  c.tolerance = 1e-5;
  return c;
}

inline std::vector<OpCase> pool_cases() {
  std::vector<OpCase> v;
  v.push_back(pool_case("maxpool 2x2", {"MaxPool", {1, 4, 8, 8}, {2, 2}, {2, 2}}));
  v.push_back(pool_case("maxpool 3x3 s2 pad1", {"MaxPool", {2, 8, 15, 15}, {3, 3}, {2, 2}, {1, 1, 1, 1}}));
  v.push_back(pool_case("maxpool ceil",
                        {.op = "MaxPool", .x = {1, 3, 9, 9}, .kernel = {2, 2}, .strides = {2, 2}, .ceil_mode = true}));
  v.push_back(pool_case("maxpool ceil exact",
                        {.op = "MaxPool", .x = {1, 3, 8, 8}, .kernel = {2, 2}, .strides = {2, 2}, .ceil_mode = true}));
  v.push_back(
      pool_case("maxpool dilated", {.op = "MaxPool", .x = {1, 3, 9, 9}, .kernel = {2, 2}, .dilations = {2, 2}}));
  v.push_back(
      pool_case("maxpool same_upper",
                {.op = "MaxPool", .x = {1, 3, 9, 8}, .kernel = {3, 3}, .strides = {2, 2}, .auto_pad = "SAME_UPPER"}));
  v.push_back(pool_case("maxpool 1d", {"MaxPool", {2, 3, 17}, {3}, {2}}));
  v.push_back(pool_case("maxpool 3d", {"MaxPool", {1, 2, 6, 6, 6}, {2, 2, 2}, {2, 2, 2}}));
  v.push_back(pool_case("avgpool 2x2", {"AveragePool", {1, 4, 8, 8}, {2, 2}, {2, 2}}));
  v.push_back(pool_case("avgpool pad exclude", {"AveragePool", {1, 4, 7, 7}, {3, 3}, {1, 1}, {1, 1, 1, 1}}));
  v.push_back(pool_case(
      "avgpool pad include",
      {.op = "AveragePool", .x = {1, 4, 7, 7}, .kernel = {3, 3}, .pads = {1, 1, 1, 1}, .count_include_pad = true}));
  v.push_back(pool_case("avgpool ceil include", {.op = "AveragePool",
                                                 .x = {1, 2, 8, 8},
                                                 .kernel = {3, 3},
                                                 .strides = {2, 2},
                                                 .pads = {1, 1, 1, 1},
                                                 .ceil_mode = true,
                                                 .count_include_pad = true}));
  v.push_back(pool_case(
      "avgpool same_lower",
      {.op = "AveragePool", .x = {1, 3, 9, 8}, .kernel = {3, 3}, .strides = {2, 2}, .auto_pad = "SAME_LOWER"}));
  v.push_back(pool_case("global avgpool", {.op = "GlobalAveragePool", .x = {2, 16, 7, 7}}));
  v.push_back(pool_case("global avgpool 1d", {.op = "GlobalAveragePool", .x = {2, 5, 11}}));
  v.push_back(pool_case("global avgpool 3d", {.op = "GlobalAveragePool", .x = {1, 3, 4, 5, 6}}));
  return v;
}

inline OpCase batch_norm_case(const std::string& name, Shape x, float epsilon = 1e-5f, int64_t opset = 15) {
  OpCase c;
  c.name = name;
  c.node = node("BatchNormalization", {attr_float("epsilon", epsilon)});
  c.opset = opset;
  const int64_t C = x[1];
  c.inputs = {random_tensor(x, 10), random_tensor({C}, 11), random_tensor({C}, 12), random_tensor({C}, 13),
              random_tensor({C}, 14, 0.1f, 2.f)};
  c.constant = {false, true, true, true, true};
  c.tolerance = 1e-5;
  return c;
}

inline std::vector<OpCase> batch_norm_cases() {
  std::vector<OpCase> v;
  v.push_back(batch_norm_case("batchnorm 4d", {2, 8, 5, 5}));
  v.push_back(batch_norm_case("batchnorm 2d", {4, 6}));
  v.push_back(batch_norm_case("batchnorm 3d", {2, 3, 9}));
  v.push_back(batch_norm_case("batchnorm 5d", {1, 4, 3, 3, 3}, 1e-3f));
  v.push_back(batch_norm_case("batchnorm opset 9", {2, 8, 5, 5}, 1e-5f, 9));
  return v;
}

inline OpCase softmax_case(const std::string& name, Shape x, int64_t axis, int64_t opset) {
  OpCase c;
  c.name = name;
  c.node = node("Softmax", {attr_int("axis", axis)});
  c.opset = opset;
  c.inputs = {random_tensor(x, 15, -5.f, 5.f)};
  c.tolerance = 1e-5;
  return c;
}

inline std::vector<OpCase> softmax_cases() {
  std::vector<OpCase> v;
  v.push_back(softmax_case("softmax last", {3, 10}, -1, 13));
  v.push_back(softmax_case("softmax axis 1 of 3", {2, 5, 7}, 1, 13));
  v.push_back(softmax_case("softmax axis 0", {6, 4}, 0, 13));
  v.push_back(softmax_case("softmax attention", {1, 12, 16, 16}, 3, 13));
  v.push_back(softmax_case("softmax legacy last", {3, 4, 10}, 2, 11));
  v.push_back(softmax_case("softmax legacy axis 1 (coerced)", {3, 4, 10}, 1, 11));
  v.push_back(softmax_case("softmax 1d", {17}, 0, 13));
  return v;
}

// Real layer shapes for the perf mode: ResNet-50 (batch 1 and 8), MobileNetV2, BERT-base.
inline std::vector<OpCase> perf_cases() {
  std::vector<OpCase> v;
  for (int64_t n : {1, 8}) {
    const std::string b = " batch " + std::to_string(n);
    v.push_back(conv_case("resnet50 conv1 7x7 s2" + b,
                          {.x = {n, 3, 224, 224}, .w = {64, 3, 7, 7}, .strides = {2, 2}, .pads = {3, 3, 3, 3}}));
    v.push_back(conv_case("resnet50 res2 3x3" + b, {.x = {n, 64, 56, 56}, .w = {64, 64, 3, 3}, .pads = {1, 1, 1, 1}}));
    v.push_back(conv_case("resnet50 res2 1x1 expand" + b, {{n, 64, 56, 56}, {256, 64, 1, 1}}));
    v.push_back(
        conv_case("resnet50 res4 3x3" + b, {.x = {n, 256, 14, 14}, .w = {256, 256, 3, 3}, .pads = {1, 1, 1, 1}}));
    v.push_back(conv_case("resnet50 res5 1x1" + b, {{n, 2048, 7, 7}, {512, 2048, 1, 1}}));
  }
  for (int64_t n : {1, 8}) {
    const std::string b = " batch " + std::to_string(n);
    v.push_back(conv_transpose_case("dcgan convT latent 100->512" + b, {.x = {n, 100, 1, 1}, .w = {100, 512, 4, 4}}));
    v.push_back(
        conv_transpose_case("dcgan convT 4x4 512->256 s2" + b,
                            {.x = {n, 512, 4, 4}, .w = {512, 256, 4, 4}, .strides = {2, 2}, .pads = {1, 1, 1, 1}}));
    v.push_back(
        conv_transpose_case("dcgan convT 16x16 128->64 s2" + b,
                            {.x = {n, 128, 16, 16}, .w = {128, 64, 4, 4}, .strides = {2, 2}, .pads = {1, 1, 1, 1}}));
    v.push_back(
        conv_transpose_case("dcgan convT 32x32 64->3 s2" + b,
                            {.x = {n, 64, 32, 32}, .w = {64, 3, 4, 4}, .strides = {2, 2}, .pads = {1, 1, 1, 1}}));
  }
  v.push_back(conv_case("mobilenetv2 dw 3x3 144ch",
                        {.x = {1, 144, 56, 56}, .w = {144, 1, 3, 3}, .group = 144, .pads = {1, 1, 1, 1}}, "Clip",
                        {0.f, 6.f}));
  v.push_back(conv_case("mobilenetv2 pw 1x1 144->24", {{1, 144, 56, 56}, {24, 144, 1, 1}}));
  v.push_back(
      gemm_case("bert ffn gemm 128x768x3072", {.a = {128, 768}, .b = {3072, 768}, .c = {3072}, .trans_b = true}));
  v.push_back(matmul_case("bert qk^T 12x128x64x128", {1, 12, 128, 64}, {1, 12, 64, 128}));
  for (int64_t n : {1, 8}) {
    const std::string b = " batch " + std::to_string(n);
    v.push_back(fused_matmul_case("bert ffn_in + bias + gelu" + b, {n, 128, 768}, {768, 3072}, true, "Gelu"));
    v.push_back(fused_matmul_case("bert projection + bias" + b, {n, 128, 768}, {768, 768}, true, ""));
    // Small enough that the time is the kernel's per-call setup, not the math.
    v.push_back(gemm_case("tiny gemm 16x16 + relu (setup cost)" + b,
                          {.a = {n, 16}, .b = {16, 16}, .c = {16}, .trans_b = true}, "Relu"));
    v.push_back(
        gemm_case("mlp 784->1024 + relu" + b, {.a = {n, 784}, .b = {1024, 784}, .c = {1024}, .trans_b = true}, "Relu"));
  }
  v.push_back(pool_case("resnet maxpool 3x3 s2", {"MaxPool", {1, 64, 112, 112}, {3, 3}, {2, 2}, {1, 1, 1, 1}}));
  v.push_back(batch_norm_case("batchnorm 64x56x56", {1, 64, 56, 56}));
  v.push_back(softmax_case("bert softmax 12x128x128", {1, 12, 128, 128}, -1, 13));
  return v;
}

}  // namespace kiln::ops_test
