// Op cases for kiln.BlockedConvDepthwise (kernels/blocked_conv_depthwise_attrs.h): the vector kernel
// (activations that keep 0 at 0) or oneDNN's 1x1 convolution with its depthwise post-op (the others)
// against the two reference BlockedConvs. X carries 0.5 in its padding lanes.
#pragma once

#include <limits>

#include "blocked_cases.h"

namespace kiln::ops_test {

struct ConvDepthwiseSpec {
  Shape x;    // plain [N, C, H, W]
  int64_t m;  // expanded channels
  int64_t kernel = 3;  // the depthwise window
  int64_t stride = 1;
  std::string activation;
  std::vector<float> params;
  std::string depthwise_activation;
  std::vector<float> depthwise_params;
  bool bias = true;
  bool const_weights = true;
  int64_t block = 16;
  bool infinite_pixel = false;  // X's first value +inf
  bool expect_fast = false;     // the fast kernel must not hand the case to its reference
};

inline OpCase conv_depthwise_case(const std::string& name, const ConvDepthwiseSpec& s) {
  std::vector<ir::Attribute> attrs{attr_int("depthwise_stride", s.stride)};
  if (!s.activation.empty()) attrs.push_back(attr_string("activation", s.activation));
  if (!s.params.empty()) attrs.push_back(attr_floats("activation_params", s.params));
  if (!s.depthwise_activation.empty()) attrs.push_back(attr_string("depthwise_activation", s.depthwise_activation));
  if (!s.depthwise_params.empty()) attrs.push_back(attr_floats("depthwise_activation_params", s.depthwise_params));
  OpCase k;
  k.name = with_block(name, s.block);
  k.node = node("BlockedConvDepthwise", attrs, "kiln");
  k.opset = 1;
  Tensor x = random_blocked(s.x, 21, s.block);
  if (s.infinite_pixel) x.data<float>()[0] = std::numeric_limits<float>::infinity();
  k.inputs = {x, random_tensor({s.m, s.x[1], 1, 1}, 22), s.bias ? random_tensor({s.m}, 23) : Tensor(),
              random_tensor({s.m, 1, s.kernel, s.kernel}, 24), s.bias ? random_tensor({s.m}, 25) : Tensor()};
  k.constant = {false, s.const_weights, s.const_weights, s.const_weights, s.const_weights};
  k.expect_fast = s.expect_fast;
  k.tolerance = 1e-5 * static_cast<double>(s.x[1] * s.kernel * s.kernel) + 1e-5;  // float sums in another order
  return k;
}

// One image large enough (over 2^20 multiply-adds) for the oneDNN kernel to compute it in slices of the
// expanded channels on a team of several threads: 144 channels (9 blocks of 16, 18 of 8) and 40 (the
// last block padded).
inline std::vector<OpCase> conv_depthwise_channel_part_cases(int64_t block) {
  std::vector<OpCase> v;
  v.push_back(conv_depthwise_case("conv dw relu6 24->144 s1 at 28x28", {.x = {1, 24, 28, 28},
                                                                        .m = 144,
                                                                        .activation = "Clip",
                                                                        .params = {0.f, 6.f},
                                                                        .depthwise_activation = "Clip",
                                                                        .depthwise_params = {0.f, 6.f},
                                                                        .block = block}));
  v.push_back(conv_depthwise_case("conv dw padded 20->40 s2 at 40x40",
                                  {.x = {1, 20, 40, 40}, .m = 40, .stride = 2, .activation = "Relu", .block = block}));
  return v;
}

inline std::vector<OpCase> conv_depthwise_cases(int64_t block) {
  std::vector<OpCase> v;
  auto add = [&v, block](const std::string& name, ConvDepthwiseSpec s) {
    s.block = block;
    v.push_back(conv_depthwise_case(name, s));
  };
  add("conv dw relu6 24->144 s1", {.x = {1, 24, 14, 14},
                                   .m = 144,
                                   .activation = "Clip",
                                   .params = {0.f, 6.f},
                                   .depthwise_activation = "Clip",
                                   .depthwise_params = {0.f, 6.f}});
  add("conv dw relu6 16->96 s2 batch 2", {.x = {2, 16, 15, 15},
                                          .m = 96,
                                          .stride = 2,
                                          .activation = "Clip",
                                          .params = {0.f, 6.f},
                                          .depthwise_activation = "Clip",
                                          .depthwise_params = {0.f, 6.f}});
  add("conv dw swish padded 20->40 s2",
      {.x = {1, 20, 9, 9}, .m = 40, .stride = 2, .activation = "Swish", .depthwise_activation = "Swish"});
  add("conv dw no bias no activation", {.x = {1, 32, 6, 6}, .m = 48, .bias = false});
  add("conv dw runtime weights", {.x = {1, 16, 5, 5}, .m = 32, .const_weights = false});
  // EfficientNet's pairs, smaller: SiLU after each, 3x3 and 5x5, rows of 8 pixels and more (tiles of 8,
  // the last overlapping) and fewer (one narrow tile).
  add("conv dw swish 16->96 s2 at 19x19", {.x = {1, 16, 19, 19},
                                           .m = 96,
                                           .stride = 2,
                                           .activation = "Swish",
                                           .depthwise_activation = "Swish",
                                           .expect_fast = true});
  add("conv dw swish 5x5 24->144 s2 at 11x13", {.x = {1, 24, 11, 13},
                                                .m = 144,
                                                .kernel = 5,
                                                .stride = 2,
                                                .activation = "Swish",
                                                .depthwise_activation = "Swish",
                                                .expect_fast = true});
  add("conv dw swish 5x5 40->240 s1 at 7x7 batch 2", {.x = {2, 40, 7, 7},
                                                      .m = 240,
                                                      .kernel = 5,
                                                      .activation = "Swish",
                                                      .depthwise_activation = "Swish",
                                                      .expect_fast = true});
  add("conv dw 5x5 padded 20->40 s1 at 3 wide", {.x = {1, 20, 5, 3}, .m = 40, .kernel = 5, .expect_fast = true});
  add("conv dw relu 5x5 s2 at 2x2", {.x = {1, 16, 2, 2}, .m = 32, .kernel = 5, .stride = 2, .activation = "Relu"});
  // oneDNN's kernel: an activation that does not keep 0 at 0, with a 5x5 window it runs as two kernels.
  add("conv dw hardswish 5x5 16->32", {.x = {1, 16, 6, 6}, .m = 32, .kernel = 5, .activation = "HardSwish"});
  // An infinite X value: Y's padding lanes (40 channels) stay 0, as the reference's, while the value
  // reaches every expanded channel.
  add("conv dw relu6 20->40 infinite pixel", {.x = {1, 20, 9, 9},
                                              .m = 40,
                                              .activation = "Clip",
                                              .params = {-1.f, 6.f},
                                              .depthwise_activation = "Relu",
                                              .infinite_pixel = true,
                                              .expect_fast = true});
  return v;
}

// One image on a team with fewer planes than two per thread (3 blocks of 16, 5 of 8): bands of rows,
// each computing its first expanded rows again.
inline std::vector<OpCase> conv_depthwise_band_cases(int64_t block) {
  std::vector<OpCase> v;
  for (int64_t kernel : {3, 5}) {
    v.push_back(conv_depthwise_case(
        "conv dw swish 24->40 at 30x30 in bands, " + std::to_string(kernel) + "x" + std::to_string(kernel),
        {.x = {1, 24, 30, 30},
         .m = 40,
         .kernel = kernel,
         .activation = "Swish",
         .depthwise_activation = "Swish",
         .block = block,
         .expect_fast = true}));
  }
  return v;
}

}  // namespace kiln::ops_test
