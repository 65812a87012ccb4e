// Op cases of the vectorized elementwise kernels (src/kernels/vec): unary activations and math
// functions on random values plus the edge values (NaN, +-inf, -0, huge, tiny), and binary arithmetic
// on every broadcast pattern the fast path takes and some it hands to the reference.
#pragma once

#include <limits>

#include "op_case.h"

namespace kiln::ops_test {

// Values every unary kernel must get right besides ordinary ones: NaN, infinities, signed zeros,
// denormals, the float extremes, and the points where approximations switch or saturate.
inline std::vector<float> edge_values() {
  const float inf = std::numeric_limits<float>::infinity();
  const float big = std::numeric_limits<float>::max();
  const float tiny = std::numeric_limits<float>::denorm_min();
  return {std::numeric_limits<float>::quiet_NaN(),
          inf,
          -inf,
          0.0f,
          -0.0f,
          tiny,
          -tiny,
          1e-30f,
          -1e-30f,
          big,
          -big,
          1e-4f,
          -4e-4f,
          0.5f,
          -0.5f,
          1.0f,
          -1.0f,
          3.0f,
          -3.0f,
          3.99f,
          4.0f,
          -4.5f,
          7.9f,
          -9.0f,
          20.0f,
          -20.0f,
          87.0f,
          88.5f,
          88.8f,
          89.0f,
          -87.5f,
          -103.0f,
          -104.5f,
          1e10f,
          -1e10f};
}

// Concat of float32 inputs along `axis` (each input's shape given in full).
inline OpCase concat_case(std::vector<Shape> shapes, int64_t axis) {
  OpCase c;
  c.name = "Concat axis " + std::to_string(axis);
  c.node = node("Concat", {attr_int("axis", axis)});
  c.opset = 13;
  uint64_t seed = 40;
  for (Shape& s : shapes) {
    c.name += ' ';  // appended apart: GCC 12 warns (-Wrestrict, falsely) on " " + string here
    c.name += shape_to_string(s);
    c.inputs.push_back(random_tensor(std::move(s), seed++));
  }
  c.tolerance = 0;  // copies
  return c;
}

inline std::vector<OpCase> concat_cases() {
  return {concat_case({{1, 4, 55, 55, 16}, {1, 4, 55, 55, 16}}, 1),  // squeezenet's blocked fire module
          concat_case({{2, 3, 5}, {2, 1, 5}, {2, 4, 5}}, 1),
          concat_case({{2, 3, 5}, {2, 3, 2}}, -1),
          concat_case({{3, 2}, {1, 2}}, 0),
          concat_case({{2, 0, 4}, {2, 3, 4}}, 1)};
}

// A case for a unary op on `shape`, random in [lo, hi) with the edge values written over its start.
inline OpCase unary_case(const std::string& op, Shape shape, std::vector<ir::Attribute> attrs = {}, float lo = -8,
                         float hi = 8, int64_t opset = 17) {
  OpCase c;
  c.name = op + " " + shape_to_string(shape);
  c.node = node(op, std::move(attrs));
  c.opset = opset;
  Tensor x = random_tensor(std::move(shape), 21, lo, hi);
  const std::vector<float> edges = edge_values();
  for (size_t i = 0; i < edges.size() && static_cast<int64_t>(i) < x.size(); ++i) x.data<float>()[i] = edges[i];
  c.inputs = {x};
  c.tolerance = 1e-6;  // the documented bound of simd_math.h (<= 8 ulp of the result) with room
  return c;
}

inline std::vector<OpCase> unary_cases() {
  std::vector<OpCase> v;
  for (const char* op : {"Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Reciprocal", "Neg", "Abs", "HardSwish"}) {
    v.push_back(unary_case(op, {3, 37}));  // not a multiple of any vector width: exercises the tail
  }
  v.push_back(unary_case("Exp", {2, 100}, {}, -110, 90));  // over- and underflow
  v.push_back(unary_case("Sigmoid", {1000}, {}, -100, 100));
  v.push_back(unary_case("Tanh", {1000}, {}, -0.01f, 0.01f));  // where tanh(x) ~ x
  v.push_back(unary_case("Erf", {1000}, {}, -0.01f, 0.01f));
  v.push_back(unary_case("LeakyRelu", {5, 7}, {attr_float("alpha", 0.2f)}));
  v.push_back(unary_case("HardSigmoid", {5, 7}, {attr_float("alpha", 0.3f), attr_float("beta", 0.4f)}));
  v.push_back(unary_case("HardSigmoid", {5, 7}, {}));
  v.push_back(unary_case("Clip", {4, 9}, {attr_float("min", -1.f), attr_float("max", 2.f)}, -8, 8, 6));
  v.push_back(unary_case("Clip", {4, 9}, {}, -8, 8, 1));  // unbounded
  OpCase relu6 = unary_case("Clip", {4, 9});
  relu6.name = "Clip relu6 inputs";
  relu6.inputs.push_back(Tensor::scalar(0.0f));
  relu6.inputs.push_back(Tensor::scalar(6.0f));
  v.push_back(relu6);
  OpCase max_only = unary_case("Clip", {4, 9});
  max_only.name = "Clip max only";
  max_only.inputs.push_back(Tensor());
  max_only.inputs.push_back(Tensor::scalar(0.5f));
  v.push_back(max_only);
  OpCase swish = unary_case("Swish", {3, 37});  // kiln.Swish, what opt/fuse_swish.cc makes of x * Sigmoid(x)
  swish.node.domain = "kiln";
  swish.opset = 1;
  v.push_back(swish);
  v.push_back(unary_case("Sigmoid", {2, 0, 3}));          // empty
  v.push_back(unary_case("Relu", {}));                    // a scalar
  v.push_back(unary_case("Sigmoid", {1, 32, 112, 112}));  // large enough to run on the thread team
  return v;
}

inline OpCase binary_case(const std::string& op, Shape a, Shape b, int64_t opset = 17) {
  OpCase c;
  c.name = op + " " + shape_to_string(a) + " " + shape_to_string(b);
  c.node = node(op, {});
  c.opset = opset;
  c.inputs = {random_tensor(std::move(a), 22, -4, 4), random_tensor(std::move(b), 23, 0.5f, 4)};
  c.tolerance = 0;  // one IEEE operation per element either way: bit-identical
  return c;
}

inline std::vector<OpCase> binary_cases() {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 37}, {3, 37}},            // same shape
      {{3, 37}, {}},                 // scalar right
      {{}, {3, 37}},                 // scalar left
      {{2, 5, 77}, {77}},            // row: bert's [B, S, 768] + [768]
      {{77}, {2, 5, 77}},            // row on the left
      {{2, 6, 5, 7}, {2, 6, 1, 1}},  // channel: squeeze-excitation's [N, C, H, W] * [N, C, 1, 1]
      {{2, 6, 1, 1}, {2, 6, 5, 7}},
      {{2, 6, 5, 7}, {6, 1, 1}},             // per-channel bias, batch broadcast too
      {{2, 3, 4, 5, 16}, {2, 3, 1, 1, 16}},  // blocked 5-D [N, Cb, H, W, 16] * [N, Cb, 1, 1, 16]
      {{5, 1}, {1, 6}},                      // both broadcast: outer product
      {{2, 1, 3, 1, 4}, {1, 5, 1, 6, 1}},    // more groups than the fast path takes
      {{1, 1, 9}, {1, 9}},                   // size-1 dims everywhere
      {{0, 4}, {4}},                         // empty
  };
  std::vector<OpCase> v;
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    for (const auto& [a, b] : shapes) v.push_back(binary_case(op, a, b));
  }
  v.push_back(binary_case("Add", {4, 256, 56, 56}, {4, 256, 56, 56}));  // large: on the thread team
  v.push_back(binary_case("Mul", {4, 96, 56, 56}, {4, 96, 1, 1}));
  v.push_back(binary_case("Mul", {2, 8, 60, 62, 16}, {2, 8, 1, 1, 16}));  // threads split mid-sweep of short rows
  v.push_back(binary_case("Add", {3, 12, 50, 50}, {3, 1, 1, 50}));       // attention mask: 3 groups
  return v;
}

// Pow: the fast path squares (exponent 2, a float32 scalar); the rest is the reference's.
inline std::vector<OpCase> pow_cases() {
  std::vector<OpCase> v;
  for (const auto& [name, exponent] : std::vector<std::pair<std::string, Tensor>>{
           {"Pow 2 scalar", Tensor::scalar(2.0f)},
           {"Pow 2 [1]", Tensor::from_vector<float>({1}, {2.0f})},
           {"Pow 3", Tensor::scalar(3.0f)},
           {"Pow 0.5", Tensor::scalar(0.5f)},
           {"Pow 2 [1,1,1,1] widens", Tensor::from_vector<float>({1, 1, 1, 1}, {2.0f})},
           {"Pow 2 int64", Tensor::scalar<int64_t>(2)}}) {
    OpCase c = unary_case("Pow", {3, 37});
    c.name = name;
    c.inputs.push_back(exponent);
    c.constant = {false, true};
    c.tolerance = 2e-7;  // x * x is correctly rounded; libm's powf(x, 2) is within an ulp of it
    v.push_back(c);
  }
  return v;
}

// ReduceMean: the fast path takes the last axis; others go to the reference.
inline OpCase reduce_mean_case(Shape shape, std::vector<int64_t> axes, int64_t keepdims) {
  OpCase c;
  c.name = "ReduceMean " + shape_to_string(shape) + " axes " + shape_to_string(axes) + " keepdims " +
           std::to_string(keepdims);
  c.node = node("ReduceMean", {attr_ints("axes", axes), attr_int("keepdims", keepdims)});
  c.opset = 13;
  c.inputs = {random_tensor(std::move(shape), 24, -3, 5)};
  c.tolerance = 1e-6;  // both accumulate in double; only the order of the additions differs
  return c;
}

inline std::vector<OpCase> reduce_mean_cases() {
  std::vector<OpCase> v;
  v.push_back(reduce_mean_case({2, 5, 77}, {-1}, 1));
  v.push_back(reduce_mean_case({2, 5, 77}, {2}, 0));
  v.push_back(reduce_mean_case({3}, {0}, 1));
  v.push_back(reduce_mean_case({4, 768}, {1}, 1));
  v.push_back(reduce_mean_case({2, 5, 7}, {1}, 1));        // not the last axis: reference
  v.push_back(reduce_mean_case({2, 5, 7}, {1, 2}, 0));     // two axes: reference
  v.push_back(reduce_mean_case({4, 0}, {-1}, 1));          // empty rows: reference (NaN)
  v.push_back(reduce_mean_case({64, 128, 768}, {-1}, 1));  // on the thread team
  return v;
}

// Real layer shapes: EfficientNet-B0's swish and squeeze-excitation, ResNet-50's residual, BERT's.
inline std::vector<OpCase> eltwise_perf_cases() {
  std::vector<OpCase> v;
  v.push_back(unary_case("Sigmoid", {1, 96, 112, 112}));
  v.push_back(unary_case("Sigmoid", {1, 672, 1, 1}));
  v.push_back(unary_case("Erf", {1, 128, 3072}));
  v.push_back(unary_case("Tanh", {1, 128, 3072}));
  v.push_back(unary_case("Relu", {1, 256, 56, 56}));
  v.push_back(binary_case("Mul", {1, 96, 112, 112}, {1, 96, 112, 112}));
  v.push_back(binary_case("Mul", {1, 96, 112, 112}, {1, 96, 1, 1}));
  v.push_back(binary_case("Add", {1, 256, 56, 56}, {1, 256, 56, 56}));
  v.push_back(binary_case("Add", {1, 128, 768}, {768}));
  v.push_back(binary_case("Div", {1, 128, 3072}, {}));
  v.push_back(binary_case("Mul", {1, 6, 56, 56, 16}, {1, 6, 1, 1, 16}));
  OpCase square = pow_cases()[0];
  square.inputs[0] = random_tensor({1, 128, 768}, 25);
  square.name = "Pow 2 [1, 128, 768]";
  v.push_back(square);
  v.push_back(reduce_mean_case({1, 128, 768}, {-1}, 1));
  return v;
}

}  // namespace kiln::ops_test
