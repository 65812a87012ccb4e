// An activation that the fused vector kernels apply to a row of their results while it is in L1 (or
// to their sums in registers): one of the activations that keep 0 at 0 (activation_keeps_zero in
// kernels/blocked_conv_attrs.h), the others being left to the oneDNN kernels.
#pragma once

#include <cstdint>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/vec/unary_loops.h"

namespace kiln::vec {

// An activation applied to a row in L1, or none.
struct RowActivation {
  bool active = false;
  UnaryFn fn{UnaryOp::kRelu};
};

inline void activate_row(const RowActivation& a, float* p, int64_t n) {
  if (a.active) unary_apply(a.fn, p, p, n);
}

// The row form of an activation activation_keeps_zero accepts.
inline RowActivation row_activation(const FusedActivation& a) {
  RowActivation r;
  r.active = !a.op.empty();
  if (a.op == "Relu") r.fn = UnaryFn{UnaryOp::kRelu};
  if (a.op == kSwish) r.fn = UnaryFn{UnaryOp::kSwish};
  if (a.op == "Clip") r.fn = UnaryFn{UnaryOp::kClip, a.params[0], a.params[1]};
  return r;
}

}  // namespace kiln::vec
