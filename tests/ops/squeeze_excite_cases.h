// Op cases for kiln.BlockedSqueezeExcite (kernels/blocked_squeeze_excite_attrs.h): the vectorized kernel
// against the reference (pool, two reference BlockedConvs, Mul). X carries 0.5 in its padding lanes.
#pragma once

#include "blocked_cases.h"

namespace kiln::ops_test {

struct SqueezeExciteSpec {
  Shape x;          // plain [N, C, H, W]
  int64_t reduced;  // R
  std::string reduce_activation = "Swish";
  std::vector<float> reduce_params;
  std::string expand_activation = "Sigmoid";
  std::vector<float> expand_params;
  bool bias = true;
  bool const_weights = true;
  int64_t block = 16;
};

inline OpCase squeeze_excite_case(const std::string& name, const SqueezeExciteSpec& s) {
  const int64_t c = s.x[1];
  std::vector<ir::Attribute> attrs;
  auto add_activation = [&attrs](const std::string& prefix, const std::string& act, const std::vector<float>& p) {
    if (!act.empty()) attrs.push_back(attr_string(prefix + "_activation", act));
    if (!p.empty()) attrs.push_back(attr_floats(prefix + "_activation_params", p));
  };
  add_activation("reduce", s.reduce_activation, s.reduce_params);
  add_activation("expand", s.expand_activation, s.expand_params);
  OpCase k;
  k.name = with_block(name, s.block);
  k.node = node("BlockedSqueezeExcite", attrs, "kiln");
  k.opset = 1;
  k.inputs = {random_blocked(s.x, 11, s.block), random_tensor({s.reduced, c, 1, 1}, 12),
              s.bias ? random_tensor({s.reduced}, 13) : Tensor(), random_tensor({c, s.reduced, 1, 1}, 14),
              s.bias ? random_tensor({c}, 15) : Tensor()};
  k.constant = {false, s.const_weights, s.const_weights, s.const_weights, s.const_weights};
  k.tolerance = 1e-5 * static_cast<double>(c + s.reduced) + 1e-5;  // float sums in another order
  return k;
}

inline std::vector<OpCase> squeeze_excite_cases(int64_t block) {
  std::vector<OpCase> v;
  auto add = [&v, block](const std::string& name, SqueezeExciteSpec s) {
    s.block = block;
    v.push_back(squeeze_excite_case(name, s));
  };
  add("se efficientnet 96->4 28x28", {.x = {1, 96, 28, 28}, .reduced = 4});
  add("se padded 20->5 batch 3", {.x = {3, 20, 5, 7}, .reduced = 5});
  add("se 1x1 image 40->10 relu hardsigmoid", {.x = {2, 40, 1, 1},
                                               .reduced = 10,
                                               .reduce_activation = "Relu",
                                               .expand_activation = "HardSigmoid",
                                               .expand_params = {0.2f, 0.5f}});
  add("se no bias hardswish clip", {.x = {1, 33, 4, 4},
                                    .reduced = 17,
                                    .reduce_activation = "HardSwish",
                                    .expand_activation = "Clip",
                                    .expand_params = {0.f, 1.f},
                                    .bias = false});
  add("se leakyrelu tanh", {.x = {1, 16, 3, 3},
                            .reduced = 8,
                            .reduce_activation = "LeakyRelu",
                            .reduce_params = {0.1f},
                            .expand_activation = "Tanh"});
  add("se no activations", {.x = {2, 48, 6, 6}, .reduced = 12, .reduce_activation = "", .expand_activation = ""});
  // Large enough to split over the intra-op team when it has more than one thread.
  add("se batch 8 large", {.x = {8, 96, 56, 56}, .reduced = 4});
  // Weights that are not constants are not packed: the kernel hands the case to the reference.
  add("se runtime weights", {.x = {1, 24, 5, 5}, .reduced = 6, .const_weights = false});
  return v;
}

// Large enough for a team of 2 or 3 threads to split X's rows: one image split inside (its channel
// blocks; in blocks of 8, a thread's first channel need not start a 16-channel group of the packed
// weights), padded channel counts, runs of rows across images, and EfficientNet's last block.
inline std::vector<OpCase> squeeze_excite_team_cases(int64_t block) {
  std::vector<OpCase> v;
  auto add = [&v, block](const std::string& name, SqueezeExciteSpec s) {
    s.block = block;
    v.push_back(squeeze_excite_case(name + " (block " + std::to_string(block) + ")", s));
  };
  add("se team 40->10 56x56", {.x = {1, 40, 56, 56}, .reduced = 10});
  add("se team 72->18 batch 3 relu hardsigmoid", {.x = {3, 72, 20, 20},
                                                  .reduced = 18,
                                                  .reduce_activation = "Relu",
                                                  .expand_activation = "HardSigmoid",
                                                  .expand_params = {0.2f, 0.5f}});
  add("se team 1152->48 7x7", {.x = {1, 1152, 7, 7}, .reduced = 48});
  add("se team 20->5 batch 5 no bias", {.x = {5, 20, 30, 30}, .reduced = 5, .bias = false});
  return v;
}

// EfficientNet-B0's first, a middle and the last squeeze-excite block, at batch 1 and 8, in `block`.
inline std::vector<OpCase> squeeze_excite_perf_cases(int64_t block) {
  std::vector<OpCase> v;
  for (int64_t n : {1, 8}) {
    const std::string b = " batch " + std::to_string(n);
    v.push_back(squeeze_excite_case("efficientnet se 32x112x112 r8" + b,
                                    {.x = {n, 32, 112, 112}, .reduced = 8, .block = block}));
    v.push_back(squeeze_excite_case("efficientnet se 240x28x28 r10" + b,
                                    {.x = {n, 240, 28, 28}, .reduced = 10, .block = block}));
    v.push_back(
        squeeze_excite_case("efficientnet se 1152x7x7 r48" + b, {.x = {n, 1152, 7, 7}, .reduced = 48, .block = block}));
  }
  return v;
}

// kiln.BlockedSqueezeExciteConv (kernels/blocked_squeeze_excite_conv_attrs.h): a squeeze-excite block
// and its 1x1 projection to `m` channels, with a bias, a residual Sum and an activation or not.
struct SqueezeExciteConvSpec {
  SqueezeExciteSpec se;
  int64_t m;
  bool bias = true;
  bool sum = false;
  std::string activation;
  std::vector<float> params;
};

inline OpCase squeeze_excite_conv_case(const std::string& name, const SqueezeExciteConvSpec& s) {
  OpCase k = squeeze_excite_case(name, s.se);
  const int64_t n = s.se.x[0], c = s.se.x[1], h = s.se.x[2], w = s.se.x[3];
  k.node.op_type = "BlockedSqueezeExciteConv";
  if (!s.activation.empty()) k.node.attributes.push_back(attr_string("activation", s.activation));
  if (!s.params.empty()) k.node.attributes.push_back(attr_floats("activation_params", s.params));
  k.inputs.push_back(random_tensor({s.m, c, 1, 1}, 16));
  k.inputs.push_back(s.bias ? random_tensor({s.m}, 17) : Tensor());
  // Zero padding lanes in Sum: they pass through to Z's, which the reference computes as zeros.
  if (s.sum) k.inputs.push_back(to_blocked(random_tensor({n, s.m, h, w}, 18), s.se.block));
  k.constant.resize(5);
  k.constant.insert(k.constant.end(), {s.se.const_weights, s.se.const_weights, false});
  // The node names its inputs as a graph would: the kernels tell an absent bias from its name.
  k.node.inputs.clear();
  for (size_t i = 0; i < k.inputs.size(); ++i)
    k.node.inputs.push_back(k.inputs[i].defined() ? "in" + std::to_string(i) : "");
  k.tolerance = 1e-5 * static_cast<double>(2 * c + s.se.reduced) + 1e-5;  // float sums in another order
  return k;
}

// Where the kernel scales the weights (M rounded up to 16 at most H x W): expect_fast. The rest run
// as the two kernels the node stands for: a 7x7 image with 192 outputs (EfficientNet's late blocks),
// runtime weights, and an activation the 1x1 tiles do not take.
inline std::vector<OpCase> squeeze_excite_conv_cases(int64_t block) {
  std::vector<OpCase> v;
  auto add = [&v, block](const std::string& name, SqueezeExciteConvSpec s, bool fast) {
    s.se.block = block;
    OpCase c = squeeze_excite_conv_case(name, s);
    c.expect_fast = fast && vec::detected_isa() == vec::Isa::kAvx512;
    v.push_back(std::move(c));
  };
  add("se conv efficientnet 32->8->16 at 20x20", {.se = {.x = {1, 32, 20, 20}, .reduced = 8}, .m = 16}, true);
  add("se conv 40->10->40 sum batch 2 at 9x7", {.se = {.x = {2, 40, 9, 7}, .reduced = 10}, .m = 40, .sum = true}, true);
  add("se conv 20->5->24 padded, no bias, relu6 at 6x6",
      {.se = {.x = {1, 20, 6, 6}, .reduced = 5, .bias = false},
       .m = 24,
       .bias = false,
       .activation = "Clip",
       .params = {0.f, 6.f}},
      true);
  add("se conv 48->12->20 relu, hardsigmoid gate at 6x6",
      {.se = {.x = {3, 48, 6, 6}, .reduced = 12, .expand_activation = "HardSigmoid", .expand_params = {0.2f, 0.5f}},
       .m = 20,
       .activation = "Relu"},
      true);
  add("se conv 144->6->24 sum at 56x56 (runs)", {.se = {.x = {1, 144, 56, 56}, .reduced = 6}, .m = 24, .sum = true},
      true);
  add("se conv 672->28->192 at 7x7 (scales X)", {.se = {.x = {1, 672, 7, 7}, .reduced = 28}, .m = 192}, false);
  add("se conv runtime weights", {.se = {.x = {1, 24, 8, 8}, .reduced = 6, .const_weights = false}, .m = 16}, false);
  add("se conv sigmoid projection", {.se = {.x = {1, 24, 8, 8}, .reduced = 6}, .m = 16, .activation = "Sigmoid"},
      false);
  return v;
}

// Random shapes: N 1-4, C not a multiple of 16, R small, M 1-100, H x W around the fold's
// threshold (M rounded up to 16 <= H x W), biases, Sum and activations on and off. Cases the vector
// kernel folds (AVX-512, an activation that keeps 0, M rounded up to 16 <= H x W) expect_fast.
inline std::vector<OpCase> squeeze_excite_conv_random_cases(int64_t block, uint64_t seed, int count) {
  std::vector<OpCase> v;
  uint64_t s = seed * 2862933555777941757ull + 3037000493ull;
  auto next = [&s](int64_t lo, int64_t hi) {  // [lo, hi]
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + static_cast<int64_t>((s >> 33) % static_cast<uint64_t>(hi - lo + 1));
  };
  const std::vector<std::string> gate_acts = {"Swish", "Relu", "", "HardSwish", "Sigmoid"};
  const std::vector<std::string> expand_acts = {"Sigmoid", "HardSigmoid", "", "Tanh"};
  const std::vector<std::string> acts = {"", "Relu", "Clip", "Swish", "Sigmoid"};
  for (int i = 0; i < count; ++i) {
    SqueezeExciteConvSpec spec;
    const int64_t n = next(1, 4);
    int64_t c = next(1, 70);
    if (next(0, 3) == 0) c = 16 * next(1, 4);  // sometimes a whole number of blocks
    const int64_t r = next(1, 12);
    const int64_t m = next(1, 100);
    const int64_t mp = (m + 15) / 16 * 16;
    const int64_t hw = std::max<int64_t>(1, mp + next(-8, 8));
    const int64_t h = next(1, 4);
    const int64_t w = (hw + h - 1) / h;
    spec.se.x = {n, c, h, w};
    spec.se.reduced = r;
    spec.se.reduce_activation = gate_acts[next(0, gate_acts.size() - 1)];
    spec.se.expand_activation = expand_acts[next(0, expand_acts.size() - 1)];
    if (spec.se.expand_activation == "HardSigmoid") spec.se.expand_params = {0.2f, 0.5f};
    spec.se.bias = next(0, 1) == 1;
    spec.se.block = block;
    spec.m = m;
    spec.bias = next(0, 1) == 1;
    spec.sum = next(0, 1) == 1;
    spec.activation = acts[next(0, acts.size() - 1)];
    if (spec.activation == "Clip") spec.params = {-0.5f, 0.75f};
    const bool keeps_zero = spec.activation != "Sigmoid";
    const std::string name = "se conv random " + std::to_string(seed) + "/" + std::to_string(i) + " n" +
                             std::to_string(n) + " c" + std::to_string(c) + " r" + std::to_string(r) + " m" +
                             std::to_string(m) + " " + std::to_string(h) + "x" + std::to_string(w) +
                             (spec.se.bias ? " se-bias" : "") + (spec.bias ? " bias" : "") + (spec.sum ? " sum" : "") +
                             " act=" + spec.activation;
    OpCase k = squeeze_excite_conv_case(name, spec);
    k.expect_fast = vec::detected_isa() == vec::Isa::kAvx512 && keeps_zero && mp <= h * w;
    v.push_back(std::move(k));
  }
  return v;
}

// The fold's edges: M rounded up to 16 exactly H x W (folds) and one pixel short (does not),
// weights at the 384 KB limit (folds) and past it (does not), EfficientNet's widest block, no
// bias with a Sum.
inline std::vector<OpCase> squeeze_excite_conv_edge_cases(int64_t block) {
  std::vector<OpCase> v;
  const bool avx512 = vec::detected_isa() == vec::Isa::kAvx512;
  auto add = [&v, block](const std::string& name, SqueezeExciteConvSpec s, bool fast) {
    s.se.block = block;
    OpCase c = squeeze_excite_conv_case(name, s);
    c.expect_fast = fast;
    v.push_back(std::move(c));
  };
  add("se conv m17 at 4x8 (mp == hw)", {.se = {.x = {2, 20, 4, 8}, .reduced = 5}, .m = 17, .sum = true}, avx512);
  add("se conv m17 at 1x31 (mp > hw)", {.se = {.x = {2, 20, 1, 31}, .reduced = 5}, .m = 17, .sum = true}, false);
  add("se conv 1152->48->80 at 10x10 (368 KB)", {.se = {.x = {2, 1152, 10, 10}, .reduced = 48}, .m = 80}, avx512);
  add("se conv 1200->48->82 at 10x10 (over 384 KB)", {.se = {.x = {1, 1200, 10, 10}, .reduced = 48}, .m = 82}, false);
  add("se conv 33->3->7 no bias, sum, 3 images at 3x3",
      {.se = {.x = {3, 33, 3, 3}, .reduced = 3}, .m = 7, .bias = false, .sum = true, .activation = "Relu"}, false);
  add("se conv 33->3->7 no bias, sum, 3 images at 4x4",
      {.se = {.x = {3, 33, 4, 4}, .reduced = 3}, .m = 7, .bias = false, .sum = true, .activation = "Relu"}, avx512);
  add("se conv 1->1->1 at 4x4", {.se = {.x = {4, 1, 4, 4}, .reduced = 1}, .m = 1}, avx512);
  return v;
}

// EfficientNet-B0's squeeze-excite blocks with their projections: the first (weights scaled), a
// middle one (weights scaled) and one at 7x7 (X scaled), at batch 1 and 8.
inline std::vector<OpCase> squeeze_excite_conv_perf_cases(int64_t block) {
  std::vector<OpCase> v;
  for (int64_t n : {1, 8}) {
    const std::string b = " batch " + std::to_string(n);
    v.push_back(squeeze_excite_conv_case("efficientnet se+proj 32x112x112 r8 ->16" + b,
                                         {.se = {.x = {n, 32, 112, 112}, .reduced = 8, .block = block}, .m = 16}));
    v.push_back(
        squeeze_excite_conv_case("efficientnet se+proj 240x28x28 r10 ->40 sum" + b,
                                 {.se = {.x = {n, 240, 28, 28}, .reduced = 10, .block = block}, .m = 40, .sum = true}));
    v.push_back(squeeze_excite_conv_case("efficientnet se+proj 672x7x7 r28 ->192" + b,
                                         {.se = {.x = {n, 672, 7, 7}, .reduced = 28, .block = block}, .m = 192}));
  }
  return v;
}

}  // namespace kiln::ops_test
