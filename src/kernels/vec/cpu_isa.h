// Which vector instruction set the vectorized kernels run with, chosen once per process from what the
// CPU reports, and the function attributes that compile a loop for each. A loop is written once over
// Vec<W> (simd_math.h) and instantiated three times: W = 16 (AVX-512), 8 (AVX2 + FMA), 4 (SSE2, the
// x86-64 baseline), so one binary runs at full width on any x86-64 machine (no global -march flag;
// GCC and clang alike, unlike target_clones, which clang rejects for vectors wider than the baseline).
#pragma once

namespace kiln::vec {

enum class Isa { kSse2, kAvx2, kAvx512 };  // kSse2: the 4-wide baseline (on any architecture)

// The widest instruction set this CPU supports (KILN_VEC_ISA=sse2|avx2 in the environment caps it,
// for testing the narrower paths on a wider machine). Thread-safe; computed once.
Isa detected_isa();

}  // namespace kiln::vec

#if defined(__x86_64__) || defined(__i386__)
#define KILN_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#define KILN_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
// Elsewhere the wide variants compile as generic code that detected_isa() never picks; the W = 4 loops
// run on the machine's own 128-bit vectors (NEON on AArch64).
#define KILN_TARGET_AVX512
#define KILN_TARGET_AVX2
#endif

namespace kiln::vec {

// The three compilations of one loop. `Loop<W>::run` must be KILN_SIMD_INLINE (simd_math.h): inlined
// into these target-attributed functions, it is compiled with their instruction set, and its Vec<W>
// values never cross a call (whose ABI would differ between the instruction sets).
namespace isa_variants {
template <template <int> class Loop, typename... Args>
KILN_TARGET_AVX512 void avx512(Args... args) {
  Loop<16>::run(args...);
}
template <template <int> class Loop, typename... Args>
KILN_TARGET_AVX2 void avx2(Args... args) {
  Loop<8>::run(args...);
}
template <template <int> class Loop, typename... Args>
void sse2(Args... args) {
  Loop<4>::run(args...);
}
}  // namespace isa_variants

// Loop<W>::run compiled for `isa` (W = 16, 8 or 4), as a plain function to call or keep.
template <template <int> class Loop, typename... Args>
auto loop_for(Isa isa) -> void (*)(Args...) {
  switch (isa) {
    case Isa::kAvx512:
      return isa_variants::avx512<Loop, Args...>;
    case Isa::kAvx2:
      return isa_variants::avx2<Loop, Args...>;
    case Isa::kSse2:
      break;
  }
  return isa_variants::sse2<Loop, Args...>;
}

// Runs Loop<W>::run(args...) at this CPU's widest instruction set (detected_isa()). Meant to be called
// from one function with a fixed signature per loop (Args are deduced from it), so each loop is
// compiled three times, not once per call site's argument types.
template <template <int> class Loop, typename... Args>
void run_widest(Args... args) {
  loop_for<Loop, Args...>(detected_isa())(args...);
}

}  // namespace kiln::vec
