// For accuracy tests: IEEE gradual underflow (MXCSR's flush-to-zero and denormals-are-zero off) while
// in scope. kiln's runs turn both on for their threads (exec/run_threads.h), and a test process's
// main thread may still have them from an earlier test; the ulp sweeps measure denormal spacings and
// must not see them flushed.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace kiln::vec {

class ScopedGradualUnderflow {
 public:
#if defined(__x86_64__) || defined(__i386__)
  ScopedGradualUnderflow() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ & ~kFtzDaz); }
  ~ScopedGradualUnderflow() { _mm_setcsr(saved_); }

 private:
  static constexpr unsigned kFtzDaz = 0x8040;  // bit 15 flush-to-zero, bit 6 denormals-are-zero
  unsigned saved_;
#endif
 public:
  ScopedGradualUnderflow(const ScopedGradualUnderflow&) = delete;
  ScopedGradualUnderflow& operator=(const ScopedGradualUnderflow&) = delete;
};

}  // namespace kiln::vec
