// A RowActivation applied to one AVX-512 vector of sums before it is stored, shared by the fused
// kernels' tiles (vec/pointwise_rows.h, vec/blocked_stem_depthwise.cc): a pass
// over the row in L1 less (ReLU6 over MobileNetV2's expanded rows as such passes took 8% of its
// time). x86-64 only; callers are compiled for AVX-512 (KILN_TARGET_AVX512).
#pragma once

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/row_activation.h"
#include "kernels/vec/silu_avx512.h"

namespace kiln::vec {

// NaN passes through Relu and Clip, as in the reference (max and min return their second operand for
// a NaN).
KILN_TARGET_AVX512 __attribute__((always_inline)) inline __m512 activate16(const RowActivation& a, __m512 v) {
  if (!a.active) return v;
  switch (a.fn.op) {
    case UnaryOp::kRelu:
      return max16(_mm512_setzero_ps(), v);
    case UnaryOp::kClip:
      return min16(_mm512_set1_ps(a.fn.beta), max16(_mm512_set1_ps(a.fn.alpha), v));
    default:  // kSwish, the only other activation row_activation makes
      return silu16(v);
  }
}

}  // namespace kiln::vec
#endif
