// unary_apply's SiLU at this machine's widest instruction set (on AVX-512 its own loop, silu_avx512),
// against double-precision libm over the same sweep as simd_math_test.cc, and at every tail length; its
// Relu and Clip (on AVX-512 max / min loops of their own) on special values and every tail length.
#include "kernels/vec/unary_loops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/vec/gradual_underflow.h"

namespace kiln::vec {
namespace {

double silu_ref(double x) { return x / (1 + std::exp(-x)); }

double ulp_error(float got, double want) {
  const float w = static_cast<float>(want);
  if (std::isnan(w)) return std::isnan(got) ? 0 : 1e9;
  const double ulp = static_cast<double>(std::nextafter(std::fabs(w), INFINITY) - std::fabs(w));
  return std::fabs(static_cast<double>(got) - want) / ulp;
}

TEST(UnaryLoops, SiluWithinFourUlpWhereNormal) {
  const ScopedGradualUnderflow ieee;
  const float lo = 1e-30f, hi = 120.0f;
  uint32_t begin, end;
  std::memcpy(&begin, &lo, 4);
  std::memcpy(&end, &hi, 4);
  std::vector<float> x;
  for (uint32_t bits = begin; bits < end; bits += 509) {
    float v;
    std::memcpy(&v, &bits, 4);
    x.push_back(v);
    x.push_back(-v);
  }
  std::vector<float> y(x.size());
  unary_apply(UnaryFn{UnaryOp::kSwish}, x.data(), y.data(), static_cast<int64_t>(x.size()));
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] < -87.0f) {
      // 0, or no larger than the exact value (which is under 1.5e-36 here).
      EXPECT_LE(std::fabs(y[i]), std::fabs(silu_ref(x[i])) * (1 + 1e-6)) << x[i];
    } else {
      worst = std::max(worst, ulp_error(y[i], silu_ref(x[i])));
    }
  }
  EXPECT_LE(worst, 4.0);
}

// Magnitudes up to FLT_MAX, where an exp argument reduced in float loses its accuracy: SiLU is x for
// large positive x and 0 (or -0) for large negative x.
TEST(UnaryLoops, SiluOfHugeValues) {
  const ScopedGradualUnderflow ieee;
  std::vector<float> x;
  for (float v = 1e3f; v < 3e38f; v *= 3.7f) {
    x.push_back(v);
    x.push_back(-v);
  }
  x.push_back(std::numeric_limits<float>::max());
  x.push_back(-std::numeric_limits<float>::max());
  std::vector<float> y(x.size());
  unary_apply(UnaryFn{UnaryOp::kSwish}, x.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] > 0) {
      EXPECT_EQ(y[i], x[i]) << x[i];
    } else {
      EXPECT_EQ(y[i], 0.0f) << x[i];
    }
  }
  const float minus_inf = -std::numeric_limits<float>::infinity();
  float out = 0;
  unary_apply(UnaryFn{UnaryOp::kSwish}, &minus_inf, &out, 1);
  EXPECT_TRUE(std::isnan(out));  // -inf * sigmoid(-inf) = -inf * 0, as the reference computes it
}

TEST(UnaryLoops, SiluSpecialValuesAndTails) {
  const ScopedGradualUnderflow ieee;
  const float inf = std::numeric_limits<float>::infinity();
  const float special[4] = {std::numeric_limits<float>::quiet_NaN(), inf, -0.0f, 1e6f};
  float out[4];
  unary_apply(UnaryFn{UnaryOp::kSwish}, special, out, 4);
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], inf);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], 1e6f);
  // In place, every length up to two vectors and one past: the masked tail touches nothing beyond n.
  for (int64_t n = 0; n <= 33; ++n) {
    std::vector<float> y(static_cast<size_t>(n) + 1, 0.0f);
    for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i)] = static_cast<float>(i) - 10.0f;
    y[static_cast<size_t>(n)] = 7.0f;
    silu_in_place(y.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_LE(ulp_error(y[static_cast<size_t>(i)], silu_ref(static_cast<double>(i) - 10.0)), 4.0) << n << " " << i;
    }
    EXPECT_EQ(y[static_cast<size_t>(n)], 7.0f) << n;
  }
}

// Relu keeps NaN and -0; Clip applies lo first and keeps NaN; every length up to two vectors and one
// past, in place, touches nothing beyond n.
TEST(UnaryLoops, ReluAndClipSpecialValuesAndTails) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float special[6] = {nan, inf, -inf, -0.0f, -2.5f, 7.0f};
  float relu[6], clip[6];
  unary_apply(UnaryFn{UnaryOp::kRelu}, special, relu, 6);
  unary_apply(UnaryFn{UnaryOp::kClip, 0.0f, 6.0f}, special, clip, 6);
  EXPECT_TRUE(std::isnan(relu[0]));
  EXPECT_EQ(relu[1], inf);
  EXPECT_EQ(relu[2], 0.0f);
  EXPECT_EQ(relu[3], 0.0f);
  EXPECT_TRUE(std::signbit(relu[3])) << "-0 stays -0, as the reference's x < 0 ? 0 : x";
  EXPECT_EQ(relu[4], 0.0f);
  EXPECT_EQ(relu[5], 7.0f);
  EXPECT_TRUE(std::isnan(clip[0]));
  EXPECT_EQ(clip[1], 6.0f);
  EXPECT_EQ(clip[2], 0.0f);
  EXPECT_EQ(clip[4], 0.0f);
  EXPECT_EQ(clip[5], 6.0f);
  float crossed;  // lo above hi: lo first, then hi
  unary_apply(UnaryFn{UnaryOp::kClip, 3.0f, 1.0f}, &special[5], &crossed, 1);
  EXPECT_EQ(crossed, 1.0f);
  for (int64_t n = 0; n <= 33; ++n) {
    std::vector<float> y(static_cast<size_t>(n) + 1, 0.0f);
    for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i)] = static_cast<float>(i) - 10.0f;
    y[static_cast<size_t>(n)] = -7.0f;
    unary_apply(UnaryFn{UnaryOp::kClip, -1.0f, 6.0f}, y.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(y[static_cast<size_t>(i)], std::min(6.0f, std::max(-1.0f, static_cast<float>(i) - 10.0f))) << n;
    }
    EXPECT_EQ(y[static_cast<size_t>(n)], -7.0f) << n;
  }
}

}  // namespace
}  // namespace kiln::vec
