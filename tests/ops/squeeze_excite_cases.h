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

}  // namespace kiln::ops_test
