// Op cases for the blocked-layout kernels (kernels/blocked_layout.h): kiln.BlockedConv, the
// kiln.Blocked* pooling ops and the two reorders, oneDNN against the reference, in blocks of 16
// (AVX-512's nChw16c) and of 8 (AVX2's nChw8c). Blocked inputs carry 0.5 in their padding lanes, not
// zeros: the kernels may assume only that padding is finite.
#pragma once

#include <limits>

#include "cases.h"
#include "kernels/blocked_layout.h"
#include "kernels/vec/cpu_isa.h"

namespace kiln::ops_test {

// The channel blocks the fast kernels take; every blocked case runs in each.
inline constexpr int64_t kChannelBlocks[] = {16, 8};

// A case's name with its block.
inline std::string with_block(const std::string& name, int64_t block) {
  return name + " (block " + std::to_string(block) + ")";
}

// A random plain tensor in the blocked layout with `block` channels per block, with finite garbage in
// the padding lanes.
inline Tensor random_blocked(const Shape& plain, uint64_t seed, int64_t block) {
  Tensor t = to_blocked(random_tensor(plain, seed), block);
  const int64_t c = plain[1];
  if (c % block == 0) return t;
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.size(); ++i) {
    const int64_t b = (i / t.dim(4) / t.dim(3) / t.dim(2)) % t.dim(1);
    if (b * block + i % block >= c) p[i] = 0.5f;
  }
  return t;
}

struct BlockedConvSpec {
  ConvSpec conv;
  std::string activation;
  std::vector<float> params;
  bool plain_input = false;
  bool sum = false;
  int64_t block = 16;
  std::string input_activation;  // "Swish": vec/blocked_depthwise.cc's nodes
};

inline OpCase blocked_conv_case(const std::string& name, const BlockedConvSpec& s) {
  OpCase c = conv_case(name, s.conv, s.activation, s.params);  // a Conv or FusedConv case, re-dressed
  c.node.op_type = "BlockedConv";
  c.node.domain = "kiln";
  c.opset = 1;
  if (!s.input_activation.empty()) c.node.attributes.push_back(attr_string("input_activation", s.input_activation));
  if (s.plain_input) {
    c.node.attributes.push_back(attr_string("input_layout", "plain"));
    c.node.attributes.push_back(attr_int("channel_block", s.block));
  } else {
    c.inputs[0] = random_blocked(s.conv.x, 1, s.block);
  }
  if (s.sum) {
    // The output's shape, from the reference Conv's geometry: run the case once without Sum.
    OpCase probe = c;
    auto pair = build_pair(probe);
    std::vector<Value> out;
    if (pair.ok() && run_kernel(*pair->ref, probe, &out).ok()) {
      const Tensor& y = out[0].tensor();
      Shape plain = plain_shape(y.shape(), s.conv.w[0]);
      if (!s.conv.bias) c.inputs.push_back(Tensor());
      // Zero padding here: Sum's padding lanes pass through to Y's (conv + Sum), which the reference
      // computes as zeros; nothing reads them, so either is right, but the comparison sees them.
      c.inputs.push_back(to_blocked(random_tensor(plain, 4), s.block));
    }
  }
  // The node names its inputs as a graph would: a kernel may tell an absent bias from its name.
  c.node.inputs.clear();
  for (size_t i = 0; i < c.inputs.size(); ++i) c.node.inputs.push_back(c.inputs[i].defined() ? "in" + std::to_string(i) : "");
  return c;
}

// Depthwise convolutions with input_activation Swish, as vec/blocked_depthwise.cc takes them: 3x3 and
// 5x5, stride 1 and 2, channels in whole and partial blocks, images smaller than a tile of 8 and not a
// multiple of one (every tail tile from 1 to 7 pixels), padding or none, with and without bias and
// output SiLU.
inline std::vector<BlockedConvSpec> input_swish_depthwise_specs() {
  std::vector<BlockedConvSpec> v;
  for (int64_t k : {3, 5}) {
    for (int64_t stride : {1, 2}) {
      const int64_t p = k / 2;
      auto spec = [&](Shape x, int64_t pad, bool bias, const std::string& act) {
        BlockedConvSpec s;
        s.conv = {.x = x, .w = {x[1], 1, k, k}, .group = x[1], .strides = {stride, stride},
                  .pads = {pad, pad, pad, pad}, .bias = bias};
        s.activation = act;
        s.input_activation = "Swish";
        return s;
      };
      v.push_back(spec({1, 32, 13, 13}, p, true, "Swish"));
      v.push_back(spec({2, 40, 7, 9}, p, false, ""));
      v.push_back(spec({1, 24, 19, 6}, 0, true, "Swish"));
      v.push_back(spec({3, 16, 5, 5}, p, true, ""));
      v.push_back(spec({1, 48, 14, 14}, p, true, "Swish"));  // a tile of 8 and one of 6 (3 at stride 2)
      v.push_back(spec({1, 20, 7, 7}, p, false, "Swish"));   // one tile of 7 (4 at stride 2)
    }
  }
  // Large enough for the intra-op team to split its planes.
  BlockedConvSpec big;
  big.conv = {.x = {2, 96, 28, 28}, .w = {96, 1, 3, 3}, .group = 96, .pads = {1, 1, 1, 1}};
  big.activation = "Swish";
  big.input_activation = "Swish";
  v.push_back(big);
  return v;
}

inline std::vector<OpCase> blocked_conv_cases(int64_t block) {
  std::vector<OpCase> v;
  auto add = [&v, block](const std::string& name, BlockedConvSpec s) {
    s.block = block;
    v.push_back(blocked_conv_case(with_block(name, block), s));
  };
  add("blocked 3x3 20->24", {.conv = {.x = {2, 20, 9, 9}, .w = {24, 20, 3, 3}, .pads = {1, 1, 1, 1}}});
  add("blocked stem plain 3->32 s2 relu",
      {.conv = {.x = {1, 3, 17, 17}, .w = {32, 3, 3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}},
       .activation = "Relu",
       .plain_input = true});
  add("blocked depthwise 24 s2 relu6",
      {.conv = {.x = {2, 24, 11, 11}, .w = {24, 1, 3, 3}, .group = 24, .strides = {2, 2}, .pads = {1, 1, 1, 1}},
       .activation = "Clip",
       .params = {0.f, 6.f}});
  add("blocked 1x1 no bias", {.conv = {.x = {1, 32, 7, 7}, .w = {40, 32, 1, 1}, .bias = false}});
  add("blocked 1x1 sum", {.conv = {{2, 20, 6, 6}, {24, 20, 1, 1}}, .sum = true});
  add("blocked 3x3 sum relu no bias",
      {.conv = {.x = {1, 16, 8, 8}, .w = {16, 16, 3, 3}, .pads = {1, 1, 1, 1}, .bias = false},
       .activation = "Relu",
       .sum = true});
  add("blocked resnet 3x3 64 sum relu batch 4 (winograd)",
      {.conv = {.x = {4, 64, 28, 28}, .w = {64, 64, 3, 3}, .pads = {1, 1, 1, 1}}, .activation = "Relu", .sum = true});
  add("blocked depthwise sum swish",
      {.conv = {.x = {2, 24, 7, 7}, .w = {24, 1, 3, 3}, .group = 24, .pads = {1, 1, 1, 1}},
       .activation = "Swish",
       .sum = true});
  add("blocked 1x1 swish", {.conv = {{1, 20, 5, 5}, {36, 20, 1, 1}}, .activation = "Swish"});
  add("blocked depthwise 5x5 swish",
      {.conv = {.x = {1, 40, 9, 9}, .w = {40, 1, 5, 5}, .group = 40, .pads = {2, 2, 2, 2}}, .activation = "Swish"});
  add("blocked runtime weights hard swish",
      {.conv = {.x = {1, 24, 6, 6}, .w = {16, 24, 3, 3}, .const_weights = false}, .activation = "HardSwish"});
  for (const BlockedConvSpec& s : input_swish_depthwise_specs()) {
    add("blocked depthwise input swish " + shape_to_string(s.conv.x) + " k" + std::to_string(s.conv.w[2]) + " s" +
            std::to_string(s.conv.strides.empty() ? 1 : s.conv.strides[0]) + " " + (s.activation.empty() ? "linear" : s.activation),
        s);
  }
  return v;
}

// 1x1 convolutions as vec/blocked_pointwise_conv.cc takes them at AVX-512 (no more output than input
// channels, with a residual Sum or without; oneDNN's elsewhere): Y in 1 to 20 blocks (groups of 1, 2, 3, 3+3+2+2 and
// 3x6+2), the last one padded or not; X's channels padded (its padding lanes hold 0.5); pixel counts off the 7-pixel
// tile and under it; several runs of pixels; ReLU6, Clip below 0, SiLU; a batch of 3; an infinite X
// value (Y's padding lanes stay 0).
inline std::vector<OpCase> pointwise_conv_cases(int64_t block) {
  std::vector<OpCase> v;
  auto add = [&v, block](const std::string& name, BlockedConvSpec s, bool infinite_pixel = false) {
    s.block = block;
    OpCase c = blocked_conv_case(with_block(name, block), s);
    if (infinite_pixel) c.inputs[0].data<float>()[0] = std::numeric_limits<float>::infinity();
    c.expect_fast = true;
    v.push_back(std::move(c));
  };
  add("pointwise 144->24 sum at 9x9", {.conv = {{1, 144, 9, 9}, {24, 144, 1, 1}}, .sum = true});
  add("pointwise 96->16 relu6 at 11x13",
      {.conv = {{1, 96, 11, 13}, {16, 96, 1, 1}}, .activation = "Clip", .params = {0.f, 6.f}, .sum = true});
  add("pointwise 48->40 swish batch 3 at 5x3",
      {.conv = {{3, 48, 5, 3}, {40, 48, 1, 1}}, .activation = "Swish", .sum = true});
  add("pointwise 512->160 sum at 14x14 (runs)", {.conv = {{1, 512, 14, 14}, {160, 512, 1, 1}}, .sum = true});
  add("pointwise 64->20 clip at 1x1",
      {.conv = {{2, 64, 1, 1}, {20, 64, 1, 1}}, .activation = "Clip", .params = {-1.f, 6.f}, .sum = true});
  // Where the vector kernel runs: oneDNN capped at AVX2 computes blocks of 16 (which such a CPU never
  // uses: it takes blocks of 8) with a NaN in real channels for this X.
  if (vec::detected_isa() == vec::Isa::kAvx512) {
    add("pointwise 40->24 relu infinite pixel",
        {.conv = {{1, 40, 6, 6}, {24, 40, 1, 1}}, .activation = "Relu", .sum = true}, true);
  }
  // Without a residual: a linear projection, and a squeeze layer (SqueezeNet's) with ReLU.
  add("pointwise 144->24 at 10x9", {.conv = {{1, 144, 10, 9}, {24, 144, 1, 1}}});
  add("pointwise 128->16 relu batch 2 at 13x13", {.conv = {{2, 128, 13, 13}, {16, 128, 1, 1}}, .activation = "Relu"});
  add("pointwise 1280->320 no bias at 7x7",
      {.conv = {.x = {1, 1280, 7, 7}, .w = {320, 1280, 1, 1}, .bias = false}, .sum = true});
  return v;
}

// EfficientNet-B0's depthwise layers as the depthwise kernel takes them (SiLU before and after), blocks
// of 16, batch 1: the perf mode's.
inline std::vector<OpCase> blocked_depthwise_perf_cases() {
  std::vector<OpCase> v;
  auto add = [&v](const std::string& name, Shape x, int64_t k, int64_t stride) {
    BlockedConvSpec s;
    s.conv = {
        .x = x, .w = {x[1], 1, k, k}, .group = x[1], .strides = {stride, stride}, .pads = {k / 2, k / 2, k / 2, k / 2}};
    s.activation = "Swish";
    s.input_activation = "Swish";
    v.push_back(blocked_conv_case(name, s));
  };
  add("efficientnet dw 96x112x112 s2 silu", {1, 96, 112, 112}, 3, 2);
  add("efficientnet dw 144x56x56 silu", {1, 144, 56, 56}, 3, 1);
  add("efficientnet dw 240x28x28 k5 silu", {1, 240, 28, 28}, 5, 1);
  add("efficientnet dw 672x14x14 k5 silu", {1, 672, 14, 14}, 5, 1);
  add("efficientnet dw 1152x7x7 k5 silu", {1, 1152, 7, 7}, 5, 1);
  return v;
}

// Input activation on convolutions the depthwise kernel does not take (the reference computes them):
// ops_test.cc checks them against the same convolution of SiLU(X) computed apart.
inline std::vector<BlockedConvSpec> input_swish_reference_specs() {
  BlockedConvSpec dense{.conv = {.x = {1, 16, 6, 6}, .w = {8, 16, 3, 3}, .pads = {1, 1, 1, 1}}, .input_activation = "Swish"};
  BlockedConvSpec dilated{
      .conv = {.x = {1, 16, 9, 9}, .w = {16, 1, 3, 3}, .group = 16, .pads = {2, 2, 2, 2}, .dilations = {2, 2}},
      .activation = "Relu",
      .input_activation = "Swish"};
  BlockedConvSpec plain{.conv = {.x = {1, 3, 9, 9}, .w = {16, 3, 3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}},
                        .plain_input = true,
                        .input_activation = "Swish"};
  return {dense, dilated, plain};
}

inline OpCase blocked_pool_case(const std::string& name, const PoolSpec& s, int64_t block) {
  OpCase c = pool_case(with_block(name, block), s);
  c.node.op_type = "Blocked" + s.op;
  c.node.domain = "kiln";
  c.opset = 1;
  c.inputs[0] = random_blocked(s.x, 9, block);
  return c;
}

inline std::vector<OpCase> blocked_pool_cases(int64_t block) {
  std::vector<OpCase> v;
  v.push_back(
      blocked_pool_case("blocked maxpool 3x3 s2", {"MaxPool", {2, 20, 15, 15}, {3, 3}, {2, 2}, {1, 1, 1, 1}}, block));
  v.push_back(blocked_pool_case(
      "blocked maxpool ceil (reference path)",
      {.op = "MaxPool", .x = {1, 16, 9, 9}, .kernel = {2, 2}, .strides = {2, 2}, .ceil_mode = true}, block));
  v.push_back(blocked_pool_case("blocked avgpool pad exclude",
                                {"AveragePool", {1, 24, 7, 7}, {3, 3}, {1, 1}, {1, 1, 1, 1}}, block));
  v.push_back(blocked_pool_case("blocked global avgpool", {.op = "GlobalAveragePool", .x = {2, 40, 7, 7}}, block));
  return v;
}

inline std::vector<OpCase> blocked_reorder_cases(int64_t block) {
  std::vector<OpCase> v;
  for (const Shape& x : {Shape{2, 20, 5, 7}, Shape{1, 3, 9, 9}, Shape{1, 32, 4, 4}}) {
    OpCase to;
    to.name = with_block("reorder to blocked " + shape_to_string(x), block);
    to.node = node("ReorderToBlocked", {attr_int("channel_block", block)}, "kiln");
    to.opset = 1;
    to.inputs = {random_tensor(x, 5)};
    to.tolerance = 0;
    v.push_back(to);
    OpCase from;
    from.name = with_block("reorder from blocked " + shape_to_string(x), block);
    from.node = node("ReorderFromBlocked", {attr_int("channels", x[1])}, "kiln");
    from.opset = 1;
    from.inputs = {random_blocked(x, 6, block)};
    from.tolerance = 0;
    v.push_back(from);
  }
  return v;
}

}  // namespace kiln::ops_test
