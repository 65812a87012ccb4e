// Float math on SIMD registers, written once over GCC vector types (`Vec<W>`: W floats) and compiled
// for each instruction set by the target-attributed loops that inline it (cpu_isa.h). Every
// function here is always_inline so it takes the instruction set of its caller.
//
// Accuracy, measured against double-precision libm over every float in the interesting ranges
// (simd_math_test.cc holds the sweep and the bounds it asserts):
//   exp      <= 1 ulp (Cody-Waite reduction, Cephes degree-5 polynomial); 0 below -104, inf above 88.8
//   sigmoid  <= 3 ulp (1 / (1 + exp(-|x|)), mirrored, so it never overflows)
//   silu     <= 4 ulp from x = -87 up; 0 below, where x * sigmoid(x) is under 1.5e-36
//   tanh     <= 6 ulp, i.e. <= 4e-7 relative (rational approximation, Eigen's coefficients)
//   erf      <= 8 ulp, i.e. <= 5e-7 relative (rational approximation, Eigen's coefficients)
// NaN propagates through every function (each clamp is written so that a NaN compare keeps x).
#pragma once

#include <cstdint>
#include <cstring>

namespace kiln::vec {

template <int W>
struct VecTypes {
  using F [[gnu::vector_size(W * 4)]] = float;
  using I [[gnu::vector_size(W * 4)]] = int32_t;
};
template <int W>
using Vec = typename VecTypes<W>::F;
template <int W>
using IVec = typename VecTypes<W>::I;

#define KILN_SIMD_INLINE [[gnu::always_inline]] inline

template <int W>
KILN_SIMD_INLINE Vec<W> splat(float v) {
  return Vec<W>{} + v;
}
template <int W>
KILN_SIMD_INLINE Vec<W> load(const float* p) {
  Vec<W> v;
  std::memcpy(&v, p, sizeof v);  // an unaligned load
  return v;
}
template <int W>
KILN_SIMD_INLINE void store(float* p, Vec<W> v) {
  std::memcpy(p, &v, sizeof v);
}
// The first n (< W) lanes from p, the rest zero: the tail of a row.
template <int W>
KILN_SIMD_INLINE Vec<W> load_partial(const float* p, int64_t n) {
  Vec<W> v{};
  std::memcpy(&v, p, static_cast<size_t>(n) * sizeof(float));
  return v;
}
template <int W>
KILN_SIMD_INLINE void store_partial(float* p, Vec<W> v, int64_t n) {
  std::memcpy(p, &v, static_cast<size_t>(n) * sizeof(float));
}

// Lane-wise select; a NaN in the compare makes it false, so `select(x > hi, hi, x)` keeps a NaN x.
template <int W>
KILN_SIMD_INLINE Vec<W> select(IVec<W> mask, Vec<W> a, Vec<W> b) {
  return mask ? a : b;
}
template <int W>
KILN_SIMD_INLINE Vec<W> abs(Vec<W> x) {
  return reinterpret_cast<Vec<W>>(reinterpret_cast<IVec<W>>(x) & 0x7fffffff);
}
template <int W>
KILN_SIMD_INLINE Vec<W> copysign(Vec<W> magnitude, Vec<W> sign) {
  const IVec<W> s = reinterpret_cast<IVec<W>>(sign) & static_cast<int32_t>(0x80000000u);
  return reinterpret_cast<Vec<W>>((reinterpret_cast<IVec<W>>(magnitude) & 0x7fffffff) | s);
}
// Clamps to [lo, hi], NaN passing through.
template <int W>
KILN_SIMD_INLINE Vec<W> clamp(Vec<W> x, float lo, float hi) {
  x = select<W>(x < lo, splat<W>(lo), x);
  return select<W>(x > hi, splat<W>(hi), x);
}

// Lanes [0, n) all ones, the rest zero, for n in [0, W]: the valid lanes of a row's partial tail.
template <int W>
KILN_SIMD_INLINE IVec<W> first_lanes(int64_t n) {
  IVec<W> lane;
  for (int i = 0; i < W; ++i) lane[i] = i;  // folds to a constant
  // The sign of lane - n, spread over the lane by the arithmetic shift. (`lane < n` says the same, but
  // GCC 12 at -O2 dies on it inside an AVX-512 loop: internal compiler error in do_store_flag.)
  return (lane - static_cast<int32_t>(n)) >> 31;
}

// Lane-wise max that keeps m where v is NaN, like the scalar `v > m ? v : m`.
template <int W>
KILN_SIMD_INLINE Vec<W> max(Vec<W> m, Vec<W> v) {
  return select<W>(v > m, v, m);
}

// The two halves of a vector (W >= 8).
template <int W>
KILN_SIMD_INLINE Vec<W / 2> low_half(Vec<W> v) {
  Vec<W / 2> h;
  std::memcpy(&h, &v, sizeof h);
  return h;
}
template <int W>
KILN_SIMD_INLINE Vec<W / 2> high_half(Vec<W> v) {
  Vec<W / 2> h;
  std::memcpy(&h, reinterpret_cast<const char*>(&v) + sizeof h, sizeof h);
  return h;
}
// The sum and the largest of the lanes, halving the vector until four lanes remain (a tree, so the
// dependency chain is log2(W) long). A NaN lane may or may not be reduce_max's answer.
template <int W>
KILN_SIMD_INLINE float reduce_add(Vec<W> v) {
  if constexpr (W > 4) {
    return reduce_add<W / 2>(low_half<W>(v) + high_half<W>(v));
  } else {
    static_assert(W == 4);
    return (v[0] + v[2]) + (v[1] + v[3]);
  }
}
template <int W>
KILN_SIMD_INLINE float reduce_max(Vec<W> v) {
  if constexpr (W > 4) {
    return reduce_max<W / 2>(max<W / 2>(low_half<W>(v), high_half<W>(v)));
  } else {
    static_assert(W == 4);
    const float a = v[2] > v[0] ? v[2] : v[0];
    const float b = v[3] > v[1] ? v[3] : v[1];
    return b > a ? b : a;
  }
}

// c0 x^n + c1 x^(n-1) + ... + cn by Horner's rule, highest coefficient first: p = p * x + c per term.
template <int W, typename... C>
KILN_SIMD_INLINE Vec<W> horner(Vec<W> x, float c0, C... rest) {
  Vec<W> p = splat<W>(c0);
  ((p = p * x + static_cast<float>(rest)), ...);
  return p;
}

// 2^n for integral n in [-126, 127], built in the exponent field.
template <int W>
KILN_SIMD_INLINE Vec<W> pow2i(IVec<W> n) {
  return reinterpret_cast<Vec<W>>((n + 127) << 23);
}

template <int W>
KILN_SIMD_INLINE Vec<W> exp(Vec<W> x) {
  // Below -104 the result is 0 even as a denormal; above 88.8 it is inf. The clamp keeps n in
  // [-150, 129], which the two-step scaling below turns into normal powers of two.
  x = clamp<W>(x, -104.0f, 88.8f);
  // n = round(x / ln2): adding 1.5 * 2^23 rounds to an integer in the default rounding mode.
  const Vec<W> magic = splat<W>(12582912.0f);
  const Vec<W> n = (x * 1.44269504088896341f + magic) - magic;
  // r = x - n ln2, with ln2 split into a part exact in float and a correction (Cody-Waite).
  Vec<W> r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  // exp(r) on [-ln2/2, ln2/2]: 1 + r + r^2 P(r), Cephes' expf coefficients.
  Vec<W> p = horner<W>(r, 1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f,
                       5.0000001201e-1f);
  p = p * (r * r) + r + 1.0f;
  const IVec<W> ni = __builtin_convertvector(n, IVec<W>);  // exact: n is integral (garbage for NaN, but p is NaN)
  const IVec<W> half = ni >> 1;
  return p * pow2i<W>(half) * pow2i<W>(ni - half);
}

template <int W>
KILN_SIMD_INLINE Vec<W> sigmoid(Vec<W> x) {
  // e = exp(-|x|) <= 1 never overflows; sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) below.
  const Vec<W> e = exp<W>(-abs<W>(x));
  const Vec<W> t = 1.0f / (1.0f + e);
  return select<W>(x < 0.0f, e * t, t);
}

// exp(x) for x <= 0, cheaper than exp(): no upper clamp, and one scaling step, since n stays within
// [-126, 0]: the result is 0 below -87, where exp leaves float's normal range (flush-to-zero, which
// every kiln worker thread sets, would make the denormal 0 anyway).
template <int W>
KILN_SIMD_INLINE Vec<W> exp_nonpositive(Vec<W> x) {
  // n = round(x / ln2); the low bits of `shifted` hold n as a two's-complement integer.
  const Vec<W> magic = splat<W>(12582912.0f);
  const Vec<W> shifted = x * 1.44269504088896341f + magic;
  const Vec<W> n = shifted - magic;
  Vec<W> r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  Vec<W> p = horner<W>(r, 1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f,
                       5.0000001201e-1f);
  p = p * (r * r) + r + 1.0f;
  // p * 2^n, by adding n to p's exponent field (p is in [0.7, 1.5], so the sum stays a normal float).
  const Vec<W> scaled = reinterpret_cast<Vec<W>>(reinterpret_cast<IVec<W>>(p) + (reinterpret_cast<IVec<W>>(shifted) << 23));
  return select<W>(x < -87.0f, splat<W>(0.0f), scaled);
}

// x * sigmoid(x): SiLU, the activation of kiln.Swish and of EfficientNet's convolutions, where it is
// a third of the model's time when oneDNN computes it (measured: 1.6x the cost of this per element).
// Same mirroring as sigmoid; a NaN x gives NaN through the final product.
template <int W>
KILN_SIMD_INLINE Vec<W> silu(Vec<W> x) {
  const Vec<W> e = exp_nonpositive<W>(-abs<W>(x));
  const Vec<W> t = 1.0f / (1.0f + e);
  return x * select<W>(x < 0.0f, e * t, t);
}

template <int W>
KILN_SIMD_INLINE Vec<W> tanh(Vec<W> x) {
  // tanh(x) = x P(x^2) / Q(x^2) on [-9, 9] (beyond, tanh is +-1 in float); Eigen's float coefficients.
  // Below 4e-4 in magnitude tanh(x) = x to float precision, and returning x keeps -0 and denormals.
  const Vec<W> c = clamp<W>(x, -7.90531110763549805f, 7.90531110763549805f);
  const Vec<W> x2 = c * c;
  const Vec<W> p =
      c * horner<W>(x2, -2.76076847742355e-16f, 2.00018790482477e-13f, -8.60467152213735e-11f, 5.12229709037114e-08f,
                    1.48572235717979e-05f, 6.37261928875436e-04f, 4.89352455891786e-03f);
  const Vec<W> q =
      horner<W>(x2, 1.19825839466702e-06f, 1.18534705686654e-04f, 2.26843463243900e-03f, 4.89352518554385e-03f);
  return select<W>(abs<W>(x) < 0.0004f, x, p / q);
}

template <int W>
KILN_SIMD_INLINE Vec<W> erf(Vec<W> x) {
  // erf(x) = x P(x^2) / Q(x^2) on [-4, 4] (beyond, erf is +-1 in float); Eigen's float coefficients.
  const Vec<W> c = clamp<W>(x, -4.0f, 4.0f);
  const Vec<W> x2 = c * c;
  const Vec<W> p =
      c * horner<W>(x2, -2.72614225801306e-10f, 2.77068142495902e-08f, -2.10102402082508e-06f, -5.69250639462346e-05f,
                    -7.34990630326855e-04f, -2.95459980854025e-03f, -1.60960333262415e-02f);
  const Vec<W> q = horner<W>(x2, -1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f,
                             -7.37332916720468e-03f, -1.42647390514189e-02f);
  // The rational function overshoots 1 by an ulp near 4; erf never does.
  return clamp<W>(p / q, -1.0f, 1.0f);
}

}  // namespace kiln::vec
