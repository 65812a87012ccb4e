// Vectorized float32 binary rows: out[i] = a op b over one row, where each operand either advances
// with i or is a single value repeated (a broadcast), at the widest instruction set the CPU has.
#pragma once

#include <cstdint>

namespace kiln::vec {

enum class BinaryOp { kAdd, kSub, kMul, kDiv };

// Which operands of a row advance: both, only A (B is one value), or only B (A is one value).
enum class RowKind { kBoth, kScalarB, kScalarA };

// Computes `reps` rows of n elements: row r writes out[r * n + i] = A[i] op B[i] for i in [0, n), where
// A is a + r * a_step advancing with i (or a[r * a_step] repeated when the kind says A is a scalar), and
// likewise B. out may be a or b (when that operand advances and its step is n).
using BinaryRowFn = void (*)(const float* a, const float* b, float* out, int64_t n, int64_t reps, int64_t a_step,
                             int64_t b_step);

// The row function for op and kind at this CPU's instruction set. Thread-safe.
BinaryRowFn binary_row(BinaryOp op, RowKind kind);

}  // namespace kiln::vec
