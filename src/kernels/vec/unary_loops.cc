// The Vec<W> helpers are always inlined into the target-attributed loops below, so no vector crosses
// a call boundary and GCC's note about the vector-argument ABI does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "kernels/vec/unary_loops.h"

#include "kernels/vec/cpu_isa.h"
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
  KILN_SIMD_INLINE Vec<W> operator()(Vec<W> x) const { return x * sigmoid<W>(x); }
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

void unary_apply(const UnaryFn& f, const float* x, float* y, int64_t n) { run_widest<UnaryLoop>(&f, x, y, n); }

}  // namespace kiln::vec
