// Portable 16-lane float vectors (GCC/Clang vector extensions) for the few fast kernels kiln writes
// itself rather than taking from oneDNN (layer normalization with a fused residual, the softmax
// inside kiln.Attention). The project compiles for the x86-64 baseline; a function marked
// KILN_SIMD_CLONES is compiled three times (AVX-512, AVX2, baseline) and the loader picks the best the
// CPU has (GCC/Clang target_clones, resolved once through an ifunc), so no global -march flag is needed.
// Helpers here are always inlined, so they are compiled for the clone that calls them: an out-of-line
// copy would be baseline code taking 64-byte vectors in another ABI than the AVX-512 clone passes them.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KILN_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KILN_SIMD_CLONES
#endif

// The vectors never cross a call (see above), so GCC's note that their ABI differs between targets
// does not apply; it is silenced for the files that include this header, where it fires at each
// (inlined) use.
#pragma GCC diagnostic ignored "-Wpsabi"

#define KILN_SIMD_INLINE inline __attribute__((always_inline))

namespace kiln::simd {

inline constexpr int64_t kLanes = 16;
typedef float f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef uint32_t u32x16 __attribute__((vector_size(64)));

KILN_SIMD_INLINE f32x16 splat(float v) { return f32x16{} + v; }
// Unaligned loads and stores (tensor rows start anywhere).
KILN_SIMD_INLINE f32x16 load(const float* p) {
  f32x16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
KILN_SIMD_INLINE void store(float* p, f32x16 v) { std::memcpy(p, &v, sizeof v); }

// Lane-wise max that ignores a NaN in `v` (keeps m), like the scalar `v > m ? v : m`.
KILN_SIMD_INLINE f32x16 max(f32x16 m, f32x16 v) { return v > m ? v : m; }

KILN_SIMD_INLINE float sum(f32x16 v) {
  float s = 0;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}
KILN_SIMD_INLINE float max_lane(f32x16 v) {
  float m = v[0];
  for (int i = 1; i < kLanes; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

// exp(x), lane-wise, within 2 ulp of std::exp for x in [-87.3, 88] (Cephes expf: x = n ln2 + r,
// |r| <= ln2 / 2, a degree-6 polynomial for exp(r), 2^n built in the exponent bits). Inputs below the
// range give ~1e-38 instead of a denormal or 0; NaN stays NaN. Rounding to n uses the 1.5 * 2^23 trick,
// which leaves n in the mantissa bits: no float-to-int conversion, so every lane is well defined.
KILN_SIMD_INLINE f32x16 exp(f32x16 x) {
  x = x < -87.3365f ? splat(-87.3365f) : x;  // a NaN lane compares false and stays NaN
  x = x > 88.f ? splat(88.f) : x;            // n <= 127: 2^n stays finite
  const f32x16 magic = splat(12582912.f);    // 1.5 * 2^23
  const f32x16 k = x * 1.44269504f + magic;
  const f32x16 n = k - magic;
  f32x16 r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  f32x16 p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const u32x16 bits = ((u32x16)k - 0x4B400000u + 127u) << 23;
  return p * (f32x16)bits;
}

KILN_SIMD_INLINE float exp(float x) {
  f32x16 v = splat(x);
  return exp(v)[0];
}

}  // namespace kiln::simd
