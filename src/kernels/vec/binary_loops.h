// Vectorized float32 binary rows: out[i] = a op b over one row, where each operand either advances
// with i or is a single value repeated (a broadcast), at the widest instruction set the CPU has.
#pragma once

#include <cstdint>

namespace kiln::vec {

enum class BinaryOp { kAdd, kSub, kMul, kDiv };

// Which operands of a row advance: both, only A (B is one value), or only B (A is one value).
enum class RowKind { kBoth, kScalarB, kScalarA };

// Computes out[i] = a[i*sa] op b[i*sb] for i in [0, n), sa/sb being 0 or 1 as the kind says. out may
// be a or b (when that operand advances).
using BinaryRowFn = void (*)(const float* a, const float* b, float* out, int64_t n);

// The row function for op and kind at this CPU's instruction set. Thread-safe.
BinaryRowFn binary_row(BinaryOp op, RowKind kind);

}  // namespace kiln::vec
