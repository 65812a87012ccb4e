// The Vec<W> helpers are always inlined into the target-attributed loops below, so no vector crosses
// a call boundary and GCC's note about the vector-argument ABI does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "kernels/vec/unary_loops.h"

#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/parallel_chunks.h"
#include "kernels/vec/silu_avx512.h"
#include "kernels/vec/simd_math.h"

namespace kiln::vec {
namespace {

// One functor per operator, so each loop is compiled with its function inlined (no per-element
// dispatch). alpha/beta are the operator's parameters.
template <int W>
struct Relu {
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return select<W>(x < 0.0f, splat<W>(0.0f), x); }
};
template <int W>
struct LeakyRelu {
  float alpha;
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return select<W>(x >= 0.0f, x, x * alpha); }
};
template <int W>
struct Sigmoid {
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return sigmoid<W>(x); }
};
template <int W>
struct Tanh {
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return tanh<W>(x); }
};
template <int W>
struct Erf {
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return erf<W>(x); }
};
template <int W>
struct Exp {
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return exp<W>(x); }
};
template <int W>
struct Reciprocal {
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return 1.0f / x; }
};
template <int W>
struct Neg {
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return -x; }
};
template <int W>
struct Abs {
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return abs<W>(x); }
};
template <int W>
struct Clip {
  float lo, hi;
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return clamp<W>(x, lo, hi); }
};
template <int W>
struct HardSigmoid {
  float alpha, beta;
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return clamp<W>(x * alpha + beta, 0.0f, 1.0f); }
};
template <int W>
struct HardSwish {
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return x * clamp<W>(x / 6.0f + 0.5f, 0.0f, 1.0f); }
};

template <int W>
struct Square {
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return x * x; }
};

template <int W>
struct Swish {
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return silu<W>(x); }
};

template <int W, typename Fn>
KILN_SIMD_INLINE void map(Fn fn, const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) store<W>(y + i, fn(load<W>(x + i)));
  if (i < n) store_partial<W>(y + i, fn(load_partial<W>(x + i, n - i)), n - i);
}

template <int W>
struct UnaryLoop {
  KILN_SIMD_INLINE static void run(const UnaryFn* fn, const float* x, float* y, int64_t n) {
    const UnaryFn& f = *fn;
    switch (f.op) {
      case UnaryOp::kRelu:
        return map<W>(Relu<W>{}, x, y, n);
      case UnaryOp::kLeakyRelu:
        return map<W>(LeakyRelu<W>{f.alpha}, x, y, n);
      case UnaryOp::kSigmoid:
        return map<W>(Sigmoid<W>{}, x, y, n);
      case UnaryOp::kTanh:
        return map<W>(Tanh<W>{}, x, y, n);
      case UnaryOp::kErf:
        return map<W>(Erf<W>{}, x, y, n);
      case UnaryOp::kExp:
        return map<W>(Exp<W>{}, x, y, n);
      case UnaryOp::kReciprocal:
        return map<W>(Reciprocal<W>{}, x, y, n);
      case UnaryOp::kNeg:
        return map<W>(Neg<W>{}, x, y, n);
      case UnaryOp::kAbs:
        return map<W>(Abs<W>{}, x, y, n);
      case UnaryOp::kClip:
        return map<W>(Clip<W>{f.alpha, f.beta}, x, y, n);
      case UnaryOp::kHardSigmoid:
        return map<W>(HardSigmoid<W>{f.alpha, f.beta}, x, y, n);
      case UnaryOp::kHardSwish:
        return map<W>(HardSwish<W>{}, x, y, n);
      case UnaryOp::kSquare:
        return map<W>(Square<W>{}, x, y, n);
      case UnaryOp::kSwish:
        return map<W>(Swish<W>{}, x, y, n);
    }
  }
};

#if defined(__x86_64__)
KILN_TARGET_AVX512 void silu_avx512(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, silu16(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, tail, silu16(_mm512_maskz_loadu_ps(tail, x + i)));
  }
}

// Relu and Clip at AVX-512 as max / min instructions, which the generic loop's NaN-keeping selects
// (a compare and a blend per bound) became only in part: ReLU6 over MobileNetV2's depthwise rows ran
// at 5.6 cycles per vector. The operand order keeps NaN: max and min return their second operand
// when either is NaN. Lo is applied first, as the reference does.
KILN_TARGET_AVX512 void clamp_avx512(const float* x, float* y, int64_t n, float lo, float hi) {
  const __m512 l = _mm512_set1_ps(lo), h = _mm512_set1_ps(hi);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, min16(h, max16(l, _mm512_loadu_ps(x + i))));
  if (i < n) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, tail, min16(h, max16(l, _mm512_maskz_loadu_ps(tail, x + i))));
  }
}
#else
void silu_avx512(const float*, float*, int64_t) {}  // detected_isa() is never kAvx512 off x86-64
void clamp_avx512(const float*, float*, int64_t, float, float) {}
#endif

}  // namespace

int64_t unary_parallel_grain(UnaryOp op) {
  switch (op) {
    case UnaryOp::kSigmoid:
    case UnaryOp::kSwish:
    case UnaryOp::kTanh:
    case UnaryOp::kErf:
    case UnaryOp::kExp:
      return 1 << 17;  // ~0.3 ns per element (measured, AVX-512): ~40 us per thread
    default:
      return 1 << 18;  // memory-bound, ~0.15 ns per element: ~40 us per thread
  }
}

void unary_apply(const UnaryFn& f, const float* x, float* y, int64_t n) {
  if (detected_isa() == Isa::kAvx512) {
    if (f.op == UnaryOp::kSwish) return silu_avx512(x, y, n);
    if (f.op == UnaryOp::kRelu) return clamp_avx512(x, y, n, 0.0f, std::numeric_limits<float>::infinity());
    if (f.op == UnaryOp::kClip) return clamp_avx512(x, y, n, f.alpha, f.beta);
  }
  run_widest<UnaryLoop>(&f, x, y, n);
}

// Far below the grain of a SiLU node (unary_parallel_grain): Y was just written by the convolution on
// the whole team, and one thread taking all of it would read the other cores' part from their caches
// (efficientnet_b0, 2 threads, batch 1: 5.12 -> 4.90-4.97 ms with a grain of 2^12-2^14, A/B).
constexpr int64_t kSiluAfterConvGrain = int64_t{1} << 13;

void silu_in_place(float* y, int64_t n) {
  const UnaryFn silu{UnaryOp::kSwish};
  for_each_chunk(n, kSiluAfterConvGrain,
                 [&](int64_t begin, int64_t end) { unary_apply(silu, y + begin, y + begin, end - begin); });
}

}  // namespace kiln::vec
