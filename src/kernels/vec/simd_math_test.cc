// The accuracy bounds simd_math.h documents, checked against double-precision libm on a dense sweep of
// float magnitudes (every 509th float from 1e-30 to 120, both signs), plus the special values.
//
// Vec<8> and Vec<16> are used at the baseline instruction set too, where GCC notes that their ABI
// differs; no call that is not inlined passes them.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "kernels/vec/simd_math.h"

#include <gtest/gtest.h>

#include "kernels/vec/gradual_underflow.h"

#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

namespace kiln::vec {
namespace {

// The error of `got` in units of the last place of the correctly rounded float result.
double ulp_error(float got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0 : 1e9;
  const float w = static_cast<float>(want);
  if (std::isinf(w)) return got == w ? 0 : 1e9;
  double ulp = static_cast<double>(std::nextafter(std::fabs(w), INFINITY) - std::fabs(w));
  if (std::fabs(w) < FLT_MIN) ulp = std::ldexp(1.0, -149);  // denormal results: the denormal spacing
  return std::fabs(static_cast<double>(got) - want) / ulp;
}

// The largest ulp error of f over the sweep. W = 4 is the baseline width; the arithmetic is the same
// IEEE operations at every width.
double max_ulp_error(const std::function<Vec<4>(Vec<4>)>& f, double (*reference)(double)) {
  const float lo = 1e-30f, hi = 120.0f;
  uint32_t begin, end;
  std::memcpy(&begin, &lo, 4);
  std::memcpy(&end, &hi, 4);
  double worst = 0;
  for (uint32_t bits = begin; bits < end; bits += 509) {
    float x;
    std::memcpy(&x, &bits, 4);
    const float in[4] = {x, -x, x, -x};
    const Vec<4> y = f(load<4>(in));
    worst = std::max({worst, ulp_error(y[0], reference(x)), ulp_error(y[1], reference(-x))});
  }
  return worst;
}

double sigmoid_ref(double x) { return 1 / (1 + std::exp(-x)); }
double silu_ref(double x) { return x / (1 + std::exp(-x)); }
double exp_ref(double x) { return std::exp(x); }
double tanh_ref(double x) { return std::tanh(x); }
double erf_ref(double x) { return std::erf(x); }

TEST(SimdMath, ExpWithinOneUlp) {
  const ScopedGradualUnderflow ieee;
  EXPECT_LE(max_ulp_error([](Vec<4> v) { return exp<4>(v); }, exp_ref), 1.5);
}
TEST(SimdMath, SigmoidWithinThreeUlp) {
  const ScopedGradualUnderflow ieee;
  EXPECT_LE(max_ulp_error([](Vec<4> v) { return sigmoid<4>(v); }, sigmoid_ref), 3.0);
}
// SiLU within 4 ulp down to x = -87, and 0 below, where the exact result is under 1.5e-36.
TEST(SimdMath, SiluWithinFourUlpWhereNormal) {
  const ScopedGradualUnderflow ieee;
  EXPECT_LE(max_ulp_error([](Vec<4> v) { return silu<4>(v); },
                          [](double x) { return x < -87 ? 0.0 : silu_ref(x); }),
            4.0);
  const float below[4] = {-87.5f, -100.0f, -119.0f, -1e6f};
  const Vec<4> y = silu<4>(load<4>(below));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(y[i], 0.0f) << below[i];
    EXPECT_LT(std::fabs(silu_ref(below[i])), 1.5e-36) << below[i];
  }
}
TEST(SimdMath, TanhWithinSixUlp) {
  const ScopedGradualUnderflow ieee;
  EXPECT_LE(max_ulp_error([](Vec<4> v) { return tanh<4>(v); }, tanh_ref), 6.0);
}
TEST(SimdMath, ErfWithinEightUlp) {
  const ScopedGradualUnderflow ieee;
  EXPECT_LE(max_ulp_error([](Vec<4> v) { return erf<4>(v); }, erf_ref), 8.0);
}

TEST(SimdMath, SpecialValues) {
  const ScopedGradualUnderflow ieee;
  const float inf = std::numeric_limits<float>::infinity();
  const float in[4] = {std::numeric_limits<float>::quiet_NaN(), inf, -inf, -0.0f};
  const Vec<4> x = load<4>(in);
  const Vec<4> e = exp<4>(x), s = sigmoid<4>(x), t = tanh<4>(x), r = erf<4>(x), u = silu<4>(x);
  EXPECT_TRUE(std::isnan(e[0]) && std::isnan(s[0]) && std::isnan(t[0]) && std::isnan(r[0]) && std::isnan(u[0]));
  EXPECT_EQ(u[1], inf);
  EXPECT_TRUE(std::isnan(u[2]));  // -inf * sigmoid(-inf) = -inf * 0, as the reference computes it
  EXPECT_EQ(u[3], 0.0f);
  EXPECT_EQ(e[1], inf);
  EXPECT_EQ(e[2], 0.0f);
  EXPECT_EQ(e[3], 1.0f);
  EXPECT_EQ(s[1], 1.0f);
  EXPECT_EQ(s[2], 0.0f);
  EXPECT_EQ(s[3], 0.5f);
  EXPECT_EQ(t[1], 1.0f);
  EXPECT_EQ(t[2], -1.0f);
  EXPECT_TRUE(t[3] == 0.0f && std::signbit(t[3]));
  EXPECT_EQ(r[1], 1.0f);
  EXPECT_EQ(r[2], -1.0f);
  EXPECT_TRUE(r[3] == 0.0f && std::signbit(r[3]));
}

// The horizontal helpers at every width the loops use. The test runs at the baseline instruction set,
// where a Vec<16> is four 128-bit registers: the same arithmetic.
template <int W>
void check_horizontal() {
  float in[W];
  for (int i = 0; i < W; ++i) in[i] = static_cast<float>((i * 7) % W) - 3.5f;  // a permutation of W values
  const Vec<W> v = load<W>(in);
  float sum = 0;
  for (int i = 0; i < W; ++i) sum += static_cast<float>(i) - 3.5f;
  EXPECT_EQ(reduce_add<W>(v), sum) << "W=" << W;  // small integers and halves: exact in any order
  EXPECT_EQ(reduce_max<W>(v), static_cast<float>(W - 1) - 3.5f) << "W=" << W;
  for (int n = 0; n <= W; ++n) {
    const IVec<W> lanes = first_lanes<W>(n);
    for (int i = 0; i < W; ++i) EXPECT_EQ(lanes[i], i < n ? -1 : 0) << "W=" << W << " n=" << n << " lane " << i;
  }
  // max ignores a NaN in its second operand, like the scalar `v > m ? v : m`.
  const Vec<W> m = max<W>(splat<W>(1.0f), splat<W>(std::numeric_limits<float>::quiet_NaN()));
  for (int i = 0; i < W; ++i) EXPECT_EQ(m[i], 1.0f);
}

TEST(SimdMath, HorizontalHelpers) {
  const ScopedGradualUnderflow ieee;
  check_horizontal<4>();
  check_horizontal<8>();
  check_horizontal<16>();
}

}  // namespace
}  // namespace kiln::vec
