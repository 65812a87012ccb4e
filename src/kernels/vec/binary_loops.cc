// The Vec<W> helpers are always inlined into the target-attributed rows below, so no vector crosses a
// call boundary and GCC's note about the vector-argument ABI does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "kernels/vec/binary_loops.h"

#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/simd_math.h"

namespace kiln::vec {
namespace {

template <BinaryOp kOp, int W>
KILN_SIMD_INLINE Vec<W> apply(Vec<W> a, Vec<W> b) {
  if constexpr (kOp == BinaryOp::kAdd)
    return a + b;
  else if constexpr (kOp == BinaryOp::kSub)
    return a - b;
  else if constexpr (kOp == BinaryOp::kMul)
    return a * b;
  else
    return a / b;
}

// One loop per kind; a broadcast operand is splatted once. The tail runs as one partial vector (the
// padding lanes compute on zeros and are never stored).
template <BinaryOp kOp, RowKind kKind, int W>
KILN_SIMD_INLINE void row(const float* a, const float* b, float* out, int64_t n) {
  const Vec<W> sa = splat<W>(a[0]);
  const Vec<W> sb = splat<W>(b[0]);
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    const Vec<W> va = kKind == RowKind::kScalarA ? sa : load<W>(a + i);
    const Vec<W> vb = kKind == RowKind::kScalarB ? sb : load<W>(b + i);
    store<W>(out + i, apply<kOp, W>(va, vb));
  }
  if (i < n) {
    const Vec<W> va = kKind == RowKind::kScalarA ? sa : load_partial<W>(a + i, n - i);
    const Vec<W> vb = kKind == RowKind::kScalarB ? sb : load_partial<W>(b + i, n - i);
    store_partial<W>(out + i, apply<kOp, W>(va, vb), n - i);
  }
}

// `reps` rows of n, row r reading a + r * a_step and b + r * b_step and writing out + r * n: short rows
// (blocked channels, 16 floats) cost one call for a whole run of them instead of one each.
template <BinaryOp kOp, RowKind kKind>
struct Rows {
  template <int W>
  struct Loop {
    KILN_SIMD_INLINE static void run(const float* a, const float* b, float* out, int64_t n, int64_t reps,
                                     int64_t a_step, int64_t b_step) {
      for (int64_t r = 0; r < reps; ++r) row<kOp, kKind, W>(a + r * a_step, b + r * b_step, out + r * n, n);
    }
  };
};

template <BinaryOp kOp, RowKind kKind>
BinaryRowFn pick(Isa isa) {
  return loop_for<Rows<kOp, kKind>::template Loop, const float*, const float*, float*, int64_t, int64_t, int64_t,
                  int64_t>(isa);
}

template <BinaryOp kOp>
BinaryRowFn pick(RowKind kind, Isa isa) {
  switch (kind) {
    case RowKind::kBoth:
      return pick<kOp, RowKind::kBoth>(isa);
    case RowKind::kScalarB:
      return pick<kOp, RowKind::kScalarB>(isa);
    case RowKind::kScalarA:
      break;
  }
  return pick<kOp, RowKind::kScalarA>(isa);
}

}  // namespace

BinaryRowFn binary_row(BinaryOp op, RowKind kind) {
  const Isa isa = detected_isa();
  switch (op) {
    case BinaryOp::kAdd:
      return pick<BinaryOp::kAdd>(kind, isa);
    case BinaryOp::kSub:
      return pick<BinaryOp::kSub>(kind, isa);
    case BinaryOp::kMul:
      return pick<BinaryOp::kMul>(kind, isa);
    case BinaryOp::kDiv:
      break;
  }
  return pick<BinaryOp::kDiv>(kind, isa);
}

}  // namespace kiln::vec
