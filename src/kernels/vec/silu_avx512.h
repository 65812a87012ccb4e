// SiLU of one AVX-512 vector, shared by the SiLU loop (unary_loops.cc) and the kernels that apply it to
// their results in registers (vec/pointwise_rows.h), and the max / min they clamp with. x86-64 only;
// callers are compiled for AVX-512 (KILN_TARGET_AVX512).
#pragma once

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/vec/cpu_isa.h"

namespace kiln::vec {

// max, min, roundscale and scalef in their masked forms with every lane selected: the same
// instructions, but the unmasked forms pass _mm512_undefined_ps() through, which GCC 12 reports as
// maybe uninitialized wherever they are inlined. max16 and min16 return b where either is NaN.
inline constexpr __mmask16 kAllLanes = 0xFFFF;
KILN_TARGET_AVX512 __attribute__((always_inline)) inline __m512 max16(__m512 a, __m512 b) {
  return _mm512_mask_max_ps(a, kAllLanes, a, b);
}
KILN_TARGET_AVX512 __attribute__((always_inline)) inline __m512 min16(__m512 a, __m512 b) {
  return _mm512_mask_min_ps(a, kAllLanes, a, b);
}

// SiLU at AVX-512 with the two instructions Vec<W> cannot name: vrndscaleps rounds t = -x/ln2 and
// vscalefps multiplies by 2^n over the whole float range, so the generic silu's clamp, sign mirroring
// and exponent-field arithmetic go (15 operations a vector instead of 26). SiLU is a large share of
// EfficientNet's time.
// exp(-x) overflows to inf below x = -88.7 (1 / (1 + inf) = 0: SiLU is -0 where it is under 1e-36)
// and scalef's underflow to 0 above x = 104 leaves x; NaN stays NaN. Accuracy as silu's (exp within ~1 ulp,
// one division): unary_loops_test.cc checks it.
KILN_TARGET_AVX512 __attribute__((always_inline)) inline __m512 silu16(__m512 v) {
  const __m512 one = _mm512_set1_ps(1.0f);
  // exp(-v) from v clamped to [-89, 104], where the reduction below is exact enough: beyond, n's
  // rounding error would blow r up (SiLU(1e14) came out -0). exp(89) is inf and exp(-104) is 0 in
  // float, so the clamp changes no result; max_ps returns its second operand for a NaN v, whose NaN
  // the final division keeps.
  const __m512 c = min16(max16(v, _mm512_set1_ps(-89.0f)), _mm512_set1_ps(104.0f));
  const __m512 t = _mm512_mul_ps(c, _mm512_set1_ps(-1.44269504088896341f));
  const __m512 n = _mm512_mask_roundscale_ps(t, kAllLanes, t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = -c - n ln2 (Cody-Waite, as exp()). exp(r) on [-ln2/2, ln2/2]: the degree-5 polynomial of
  // least relative error there (scripts/minimax_exp.py 5: 7.5e-8 before rounding) in Horner's form.
  // This loop is bound by its multiplies and multiply-adds, so each degree costs: Cephes' form
  // 1 + r + r^2 P(r) (degree 7) took 0.165 ns per element, minimax degree 6 0.147 and degree 5 0.129
  // (L1-resident microbenchmark). Worst SiLU error over [-87, 120]: 3.0, 2.3 and 3.6 ulp; the test's
  // bound, as for the generic silu, is 4. Without fused multiply-adds (exp()'s other widths) Cephes'
  // form stays the more accurate.
  __m512 r = _mm512_fnmsub_ps(n, _mm512_set1_ps(0.693359375f), c);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(8.2976548001e-3f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1915383190e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6667574644e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.9998894334e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.9999970198e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0000001192e+0f));
  const __m512 e = _mm512_mask_scalef_ps(p, kAllLanes, p, n);  // exp(-c)
  return _mm512_div_ps(v, _mm512_add_ps(one, e));
}

}  // namespace kiln::vec
#endif
