// Runs small oneDNN work on the calling thread alone. At batch 1 most of a CNN's layers are tiny
// (squeeze-excite 1x1 convolutions on a 1x1 image, late 7x7 layers), and waking the OpenMP team for
// them costs more than splitting saves: efficientnet_b0 ran slower on 2 threads than ONNX Runtime,
// which also keeps such ops on one thread by a cost threshold.
//
// oneDNN's jit kernels fix their thread split when the primitive is created, so the guard must cover
// both the creation and every execution of a primitive; deciding from the shape alone (as here) keeps
// the two consistent. Scoped, one thread: restores the caller's OpenMP thread count.
#pragma once

#include <omp.h>

#include <cstdint>

namespace kiln::dnnl_kernels {

// Multiply-adds below which a kernel runs single-threaded (about 50 us on one core).
inline constexpr int64_t kSerialMacs = int64_t{1} << 20;

class SerialBelow {
 public:
  SerialBelow(int64_t macs, int64_t threshold = kSerialMacs) : active_(macs < threshold && omp_get_max_threads() > 1) {
    if (active_) {
      saved_ = omp_get_max_threads();
      omp_set_num_threads(1);
    }
  }
  ~SerialBelow() {
    if (active_) omp_set_num_threads(saved_);
  }
  SerialBelow(const SerialBelow&) = delete;
  SerialBelow& operator=(const SerialBelow&) = delete;

 private:
  bool active_;
  int saved_ = 1;
};

}  // namespace kiln::dnnl_kernels
