// Op cases for kiln.BlockedStemDepthwise (kernels/blocked_stem_depthwise_attrs.h): the vector kernel
// against the two reference BlockedConvs, on the image sizes and windows that exercise its parts: tiles
// of 8 pixels and tails, edge pixels on either side, stem stride 1 and 2, depthwise 3x3 at
// stride 1 and 2, a last channel block padded, 1 to 4 image channels.
#pragma once

#include <limits>

#include "blocked_cases.h"

namespace kiln::ops_test {

struct StemDepthwiseSpec {
  Shape x;    // plain [N, C, H, W]
  int64_t m;  // the stem's output channels
  int64_t stem_stride = 2, stem_pad = 1;
  int64_t dw_kernel = 3, dw_stride = 1, dw_pad = 1;
  std::string activation;
  std::vector<float> params;
  std::string depthwise_activation;
  std::vector<float> depthwise_params;
  bool bias = true;
  bool infinite_pixel = false;  // the image's first value +inf
  bool expect_fast = true;
  int64_t block = 16;
};

inline OpCase stem_depthwise_case(const std::string& name, const StemDepthwiseSpec& s) {
  std::vector<ir::Attribute> attrs{attr_ints("kernel_shape", {3, 3}),
                                   attr_ints("strides", {s.stem_stride, s.stem_stride}),
                                   attr_ints("pads", {s.stem_pad, s.stem_pad, s.stem_pad, s.stem_pad}),
                                   attr_int("channel_block", s.block),
                                   attr_int("depthwise_stride", s.dw_stride),
                                   attr_ints("depthwise_pads", {s.dw_pad, s.dw_pad, s.dw_pad, s.dw_pad})};
  if (!s.activation.empty()) attrs.push_back(attr_string("activation", s.activation));
  if (!s.params.empty()) attrs.push_back(attr_floats("activation_params", s.params));
  if (!s.depthwise_activation.empty()) attrs.push_back(attr_string("depthwise_activation", s.depthwise_activation));
  if (!s.depthwise_params.empty()) attrs.push_back(attr_floats("depthwise_activation_params", s.depthwise_params));
  OpCase k;
  k.name = with_block(name, s.block);
  k.node = node("BlockedStemDepthwise", attrs, "kiln");
  k.opset = 1;
  Tensor x = random_tensor(s.x, 31);
  if (s.infinite_pixel) x.data<float>()[0] = std::numeric_limits<float>::infinity();
  k.inputs = {x, random_tensor({s.m, s.x[1], 3, 3}, 32), s.bias ? random_tensor({s.m}, 33) : Tensor(),
              random_tensor({s.m, 1, s.dw_kernel, s.dw_kernel}, 34), s.bias ? random_tensor({s.m}, 35) : Tensor()};
  k.constant = {false, true, true, true, true};
  k.expect_fast = s.expect_fast;
  k.tolerance = 1e-5 * static_cast<double>(s.x[1] * 9 + s.dw_kernel * s.dw_kernel) + 1e-5;  // sums in another order
  return k;
}

inline std::vector<OpCase> stem_depthwise_cases(int64_t block) {
  std::vector<OpCase> v;
  auto add = [&v, block](const std::string& name, StemDepthwiseSpec s) {
    s.block = block;
    v.push_back(stem_depthwise_case(name, s));
  };
  // MobileNetV2's first two layers, smaller: ReLU6 after each.
  add("stem dw relu6 3->32 at 37x37", {.x = {1, 3, 37, 37},
                                       .m = 32,
                                       .activation = "Clip",
                                       .params = {0.f, 6.f},
                                       .depthwise_activation = "Clip",
                                       .depthwise_params = {0.f, 6.f}});
  // EfficientNet's: SiLU after each, batch 2.
  add("stem dw swish 3->32 batch 2 at 30x30",
      {.x = {2, 3, 30, 30}, .m = 32, .activation = "Swish", .depthwise_activation = "Swish"});
  // Width 9 at stride 2: a right edge pixel; 24 channels: a padded last block at block 16.
  add("stem dw relu 3->24 at 9x9 right edge",
      {.x = {1, 3, 9, 9}, .m = 24, .activation = "Relu", .depthwise_activation = "Relu"});
  add("stem s1 dw s2 4->16 at 17x20", {.x = {1, 4, 17, 20}, .m = 16, .stem_stride = 1, .dw_stride = 2});
  add("stem no pad dw no pad 1->40 at 23x21",
      {.x = {1, 1, 23, 21}, .m = 40, .stem_pad = 0, .dw_pad = 0, .activation = "Swish"});
  // 5 blocks of 16 (10 of 8); the stem's ReLU6 in registers on the interior pixels and over the row on
  // the edges.
  add("stem dw relu6 swish 3->80 at 21x19",
      {.x = {1, 3, 21, 19}, .m = 80, .activation = "Clip", .params = {0.f, 6.f}, .depthwise_activation = "Swish"});
  add("stem dw s2 no bias 2->16 at 12x12", {.x = {1, 2, 12, 12}, .m = 16, .dw_stride = 2, .bias = false});
  add("stem dw tiny image 3->16 at 3x3", {.x = {1, 3, 3, 3}, .m = 16, .depthwise_activation = "Swish"});
  // An infinite image value: Y's padding lanes (24 channels at block 16) stay 0, as the reference's,
  // and ReLU6 keeps the real channels finite for the comparison.
  add("stem dw relu6 3->24 infinite pixel", {.x = {1, 3, 10, 10},
                                             .m = 24,
                                             .activation = "Clip",
                                             .params = {0.f, 6.f},
                                             .depthwise_activation = "Clip",
                                             .depthwise_params = {0.f, 6.f},
                                             .infinite_pixel = true});
  // Not the vector kernel's: 5 image channels, a 5x5 depthwise kernel, a Clip that moves 0; the
  // reference computes them.
  add("stem dw 5 image channels", {.x = {1, 5, 8, 8}, .m = 16, .expect_fast = false});
  add("stem dw 5x5", {.x = {1, 3, 12, 12}, .m = 16, .dw_kernel = 5, .dw_pad = 2, .expect_fast = false});
  add("stem dw clip above 0",
      {.x = {1, 3, 8, 8}, .m = 16, .activation = "Clip", .params = {0.5f, 6.f}, .expect_fast = false});
  return v;
}

// One image on a team: in bands of rows where its planes are fewer than 2 per thread (16 channels: 1
// or 2 planes, bands on 2 and 3 threads at both blocks; 32: 2 or 4 planes, bands but at block 8 on 2).
inline std::vector<OpCase> stem_depthwise_team_cases(int64_t block) {
  std::vector<OpCase> v;
  for (int64_t m : {16, 32}) {
    v.push_back(stem_depthwise_case("stem dw relu6 3->" + std::to_string(m) + " at 64x64 on a team",
                                    {.x = {1, 3, 64, 64},
                                     .m = m,
                                     .activation = "Clip",
                                     .params = {0.f, 6.f},
                                     .depthwise_activation = "Clip",
                                     .depthwise_params = {0.f, 6.f},
                                     .block = block}));
  }
  return v;
}

}  // namespace kiln::ops_test
