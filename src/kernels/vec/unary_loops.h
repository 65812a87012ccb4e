// Vectorized float32 unary maps: y[i] = f(x[i]) for the activation and math functions of the ONNX
// operators in unary.cc, at the widest instruction set the CPU has (cpu_isa.h).
#pragma once

#include <cstdint>

namespace kiln::vec {

enum class UnaryOp {
  kRelu,
  kLeakyRelu,  // x >= 0 ? x : alpha * x
  kSigmoid,
  kTanh,
  kErf,
  kExp,
  kReciprocal,
  kNeg,
  kAbs,
  kClip,         // NaN-preserving clamp to [alpha, beta] (lo applied first, as the reference does)
  kHardSigmoid,  // clamp01(alpha * x + beta)
  kHardSwish,    // x * clamp01(x / 6 + 0.5)
  kSquare,       // x * x: Pow with exponent 2, as LayerNorm decomposed into primitives uses it
  kSwish,        // x * sigmoid(x): kiln.Swish
};

struct UnaryFn {
  UnaryOp op;
  float alpha = 0;
  float beta = 0;
};

// The fewest elements of `op` worth a thread of their own (~40 us of work, far above the cost of
// waking the team): a map of fewer than two grains stays on the calling thread.
int64_t unary_parallel_grain(UnaryOp op);

// y[i] = f(x[i]) for i in [0, n), on the calling thread. x and y may be the same array.
void unary_apply(const UnaryFn& f, const float* x, float* y, int64_t n);

// y[i] = y[i] * sigmoid(y[i]) over the intra-op team (parallel_chunks.h), from much smaller sizes than a
// SiLU node splits at: the SiLU that the oneDNN convolution kernels apply after their primitive instead
// of as its post-op, to an output the whole team just wrote.
void silu_in_place(float* y, int64_t n);

}  // namespace kiln::vec
