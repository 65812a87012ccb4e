// The threading environment of one Session::run: the intra-op thread count of the OpenMP team that
// oneDNN's kernels use, and denormals flushed to zero (MXCSR FTZ and DAZ) on the calling thread and
// on every worker of its team. Denormal arithmetic is up to ~100x slower on x86, and trained weights
// and decaying activations produce denormals; flushing them changes results by less than 1e-38.
//
// Scoped: the constructor sets both for the calling thread, the destructor restores the caller's
// thread count and MXCSR, so a program embedding kiln keeps its own floating-point mode. Workers keep
// FTZ/DAZ (they only run OpenMP work). Not copyable; use on one thread.
#pragma once

namespace kiln {

class ScopedRunThreads {
 public:
  // threads <= 0: all cores (OpenMP's default).
  explicit ScopedRunThreads(int threads);
  ~ScopedRunThreads();
  ScopedRunThreads(const ScopedRunThreads&) = delete;
  ScopedRunThreads& operator=(const ScopedRunThreads&) = delete;

 private:
  int saved_threads_ = 0;
  unsigned saved_csr_ = 0;
  bool set_threads_ = false;
};

// The number of threads an intra-op count of `threads` means (all cores for <= 0).
int effective_threads(int threads);

}  // namespace kiln
