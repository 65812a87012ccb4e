// What the ONNX suite leaves out: bad axes and lengths, and a long non-power-of-two transform
// (Bluestein) checked against the direct sum.
#include <cmath>
#include <numbers>

#include <gtest/gtest.h>

#include "kernels/ref/kernel_test_util.h"

namespace kiln::ref {
namespace {

using testing::int_attr;
using testing::make_node;
using testing::NodeRun;
using testing::run_node;

TEST(Dft, BluesteinMatchesDirectSum) {
  const int64_t n = 997;  // prime
  std::vector<double> x(n);
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = std::sin(0.37 * static_cast<double>(i * i % 101)) + 0.01 * static_cast<double>(i);
  NodeRun r = run_node(make_node("DFT", {int_attr("axis", 1)}), 17, {Tensor::from_vector<double>({1, n, 1}, x)});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  const double* y = r.outputs[0].tensor().data<double>();
  for (int64_t k : {0, 1, 2, 500, 996}) {
    double re = 0, im = 0;
    for (int64_t j = 0; j < n; ++j) {
      const double a = -2 * std::numbers::pi * static_cast<double>(j * k % n) / static_cast<double>(n);
      re += x[static_cast<size_t>(j)] * std::cos(a);
      im += x[static_cast<size_t>(j)] * std::sin(a);
    }
    EXPECT_NEAR(y[2 * k], re, 1e-9);
    EXPECT_NEAR(y[2 * k + 1], im, 1e-9);
  }
}

TEST(Dft, RejectsBadAxisAndLength) {
  const Tensor x = Tensor::from_vector<float>({1, 4, 1}, {1, 2, 3, 4});
  EXPECT_FALSE(run_node(make_node("DFT", {int_attr("axis", 2)}), 17, {x}).status.ok());  // the component axis
  EXPECT_FALSE(run_node(make_node("DFT", {int_attr("axis", 5)}), 17, {x}).status.ok());
  EXPECT_FALSE(run_node(make_node("DFT"), 17, {x, Tensor::scalar<int64_t>(0)}).status.ok());
  EXPECT_FALSE(run_node(make_node("DFT"), 17, {Tensor::from_vector<float>({1, 4, 3}, std::vector<float>(12))}).status.ok());
}

TEST(Stft, RejectsFramesLongerThanSignal) {
  const Tensor x = Tensor::from_vector<float>({1, 4, 1}, {1, 2, 3, 4});
  EXPECT_FALSE(run_node(make_node("STFT"), 17, {x, Tensor::scalar<int64_t>(1), Tensor(), Tensor::scalar<int64_t>(8)}).status.ok());
  EXPECT_FALSE(run_node(make_node("STFT"), 17, {x, Tensor::scalar<int64_t>(0), Tensor(), Tensor::scalar<int64_t>(2)}).status.ok());
  EXPECT_FALSE(run_node(make_node("STFT"), 17, {x, Tensor::scalar<int64_t>(1)}).status.ok());  // no frame length
}

}  // namespace
}  // namespace kiln::ref
