// The depthwise output rows of depthwise_rows.h, compiled once per instruction set, block, window and
// stride for the three vector depthwise kernels.
#pragma GCC diagnostic ignored "-Wpsabi"  // Vec<W> never crosses a call: see reduce_loops.cc

#include "kernels/vec/depthwise_rows.h"

#include "kernels/vec/cpu_isa.h"

namespace kiln::vec::depthwise {
namespace {

// Relu and Clip cost a compare and a blend per bound: the depthwise tiles apply them to their sums
// before storing them, where a pass over the output row took 3.9% of mobilenet_v2's time (perf
// samples, 1 thread, batch 1) and now nothing measurable. SiLU stays a pass over the row in L1
// (unary_apply's AVX-512 SiLU takes instructions that Vec<W> code cannot name).
inline bool in_registers(const RowActivation& a) { return a.active && a.fn.op != UnaryOp::kSwish; }

template <int W>
KILN_SIMD_INLINE Vec<W> clamp_in_registers(const RowActivation& a, Vec<W> v) {
  if (a.fn.op == UnaryOp::kRelu) return select<W>(v < 0.0f, splat<W>(0.0f), v);  // NaN and -0 pass
  return clamp<W>(v, a.fn.alpha, a.fn.beta);
}

// T outputs of one output row (at input column x0 of each ring row), for the W lanes at `lane` of
// every pixel: acc = bias + sum over kernel taps, clamped if `act` is applied in registers; rows[ky] is null where the
// kernel row falls in the padding. Loads the (T - 1) * S + KW inputs of a kernel row once for its KW columns.
template <int W, int B, int T, int KW, int S>
KILN_SIMD_INLINE void tile(const float* const* rows, int64_t kh, const float* wt, Vec<W> bias, const RowActivation& act,
                           int64_t lane, int64_t x0, float* y) {
  constexpr int kInputs = (T - 1) * S + KW;
  Vec<W> acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = bias;
  for (int64_t ky = 0; ky < kh; ++ky) {
    if (rows[ky] == nullptr) continue;
    const float* r = rows[ky] + x0 * B + lane;
    Vec<W> in[kInputs];
#pragma GCC unroll 24
    for (int i = 0; i < kInputs; ++i) in[i] = load<W>(r + i * B);
#pragma GCC unroll 5
    for (int kx = 0; kx < KW; ++kx) {
      const Vec<W> wv = load<W>(wt + (ky * KW + kx) * kPackLanes + lane);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) acc[t] += wv * in[t * S + kx];
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = in_registers(act) ? clamp_in_registers<W>(act, acc[t]) : acc[t];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) store<W>(y + t * B + lane, acc[t]);
}

// The tile of a row's last n (< 8) pixels, its width a compile-time constant: tile<..., T> for T = n.
template <int W, int B, int KW, int S, int T = 7>
KILN_SIMD_INLINE void tail_tile(int64_t n, const float* const* rows, int64_t kh, const float* wt, Vec<W> bias,
                                const RowActivation& act, int64_t lane, int64_t x0, float* y) {
  if constexpr (T > 0) {
    if (n == T) return tile<W, B, T, KW, S>(rows, kh, wt, bias, act, lane, x0, y);
    tail_tile<W, B, KW, S, T - 1>(n, rows, kh, wt, bias, act, lane, x0, y);
  }
}

// One output row of ow pixels, activated (SiLU as a pass over the row while it is in L1).
template <int W, int B, int KW, int S>
KILN_SIMD_INLINE void row(const float* const* rows, int64_t kh, const float* wt, const float* bias,
                          const RowActivation& act, int64_t ow, float* y) {
  for (int64_t lane = 0; lane < B; lane += W) {
    const Vec<W> b = load<W>(bias + lane);
    int64_t x = 0;
    for (; x + 8 <= ow; x += 8) tile<W, B, 8, KW, S>(rows, kh, wt, b, act, lane, x * S, y + x * B);
    // The rest in one tile, with as many independent sums as pixels: 4 + 2 + 1 tiles for a row of 7
    // left the FMA units waiting on each other's sums (MobileNet's 7x7 planes: 0.012 -> 0.010 ms).
    tail_tile<W, B, KW, S>(ow - x, rows, kh, wt, b, act, lane, x * S, y + x * B);
  }
  if (act.active && !in_registers(act)) activate_row(act, y, ow * B);
}

}  // namespace

template <int B, int KW, int S>
KILN_TARGET_AVX512 void output_row_16(const float* const* rows, int64_t kh, const float* wt, const float* bias,
                                      const RowActivation& act, int64_t ow, float* y) {
  row<16, B, KW, S>(rows, kh, wt, bias, act, ow, y);
}
template <int B, int KW, int S>
KILN_TARGET_AVX2 void output_row_8(const float* const* rows, int64_t kh, const float* wt, const float* bias,
                                   const RowActivation& act, int64_t ow, float* y) {
  row<8, B, KW, S>(rows, kh, wt, bias, act, ow, y);
}
template <int B, int KW, int S>
void output_row_4(const float* const* rows, int64_t kh, const float* wt, const float* bias, const RowActivation& act,
                  int64_t ow, float* y) {
  row<4, B, KW, S>(rows, kh, wt, bias, act, ow, y);
}

// The instances the kernels call: 16 lanes only on blocks of 16 (a block of 8 runs 8 wide).
#define KILN_DEPTHWISE_ROWS(KW, S)                                                                                     \
  template void output_row_16<16, KW, S>(const float* const*, int64_t, const float*, const float*,                     \
                                         const RowActivation&, int64_t, float*);                                       \
  template void output_row_8<16, KW, S>(const float* const*, int64_t, const float*, const float*,                      \
                                        const RowActivation&, int64_t, float*);                                        \
  template void output_row_8<8, KW, S>(const float* const*, int64_t, const float*, const float*, const RowActivation&, \
                                       int64_t, float*);                                                               \
  template void output_row_4<16, KW, S>(const float* const*, int64_t, const float*, const float*,                      \
                                        const RowActivation&, int64_t, float*);                                        \
  template void output_row_4<8, KW, S>(const float* const*, int64_t, const float*, const float*, const RowActivation&, \
                                       int64_t, float*);
KILN_DEPTHWISE_ROWS(3, 1)
KILN_DEPTHWISE_ROWS(3, 2)
KILN_DEPTHWISE_ROWS(5, 1)
KILN_DEPTHWISE_ROWS(5, 2)
#undef KILN_DEPTHWISE_ROWS

}  // namespace kiln::vec::depthwise
