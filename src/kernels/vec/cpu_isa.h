// Which vector instruction set the vectorized kernels run with, chosen once per process from what the
// CPU reports, and the function attributes that compile a loop for each. A loop is written once over
// Vec<W> (simd_math.h) and instantiated three times: W = 16 (AVX-512), 8 (AVX2 + FMA), 4 (SSE2, the
// x86-64 baseline), so one binary runs at full width on any x86-64 machine.
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
