#include "kernels/vec/cpu_isa.h"

#include <cstdlib>
#include <string_view>

namespace kiln::vec {
namespace {

Isa detect() {
  Isa isa = Isa::kSse2;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa = Isa::kAvx2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl")) {
    isa = Isa::kAvx512;
  }
#endif
  const char* cap = std::getenv("KILN_VEC_ISA");
  if (cap != nullptr) {
    const std::string_view c(cap);
    if (c == "sse2")
      isa = Isa::kSse2;
    else if (c == "avx2" && isa == Isa::kAvx512)
      isa = Isa::kAvx2;
  }
  return isa;
}

}  // namespace

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

}  // namespace kiln::vec
