// The second half of a ConvTranspose computed as a matrix product and col2im: the product leaves one
// row of columns per (output channel, kernel tap) holding that tap's contribution at every input
// position, and col2im adds each into the output pixel the position and tap land on.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::vec {

// The 2-D geometry; the output pixel of input (iy, ix) and tap (ky, kx) is
// (iy * stride_h - pad_top + ky * dilation_h, ix * stride_w - pad_left + kx * dilation_w).
// Column row (m, ky, kx) of image n starts at col[n * image_stride + ((m * kernel_h + ky) * kernel_w +
// kx) * row_stride] and holds the in_h x in_w positions row-major.
struct Col2ImGeometry {
  int64_t channels, in_h, in_w, out_h, out_w;
  int64_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int64_t row_stride, image_stride;
};

// col2im for one geometry, with where each tap lands worked out once (building one allocates; running
// it does not).
class Col2Im {
 public:
  explicit Col2Im(const Col2ImGeometry& g);

  // Output planes [begin, end) (plane n * channels + m: channel m of image n, out_h x out_w in y):
  // y = bias[m] (0 without a bias) plus every contribution of col. Each plane is built in small
  // planes in `phases` (phase_floats() floats of the caller's, its own on each thread:
  // kernels/thread_scratch.h), one per stride phase (the output pixels (oy, ox) with the same
  // (oy % stride_h, ox % stride_w)), where every tap's contribution is a block of contiguous row
  // adds; the phases are then interleaved into y. Thread-safe.
  void run(const float* col, const float* bias, float* y, int64_t begin, int64_t end, float* phases) const;
  int64_t phase_floats() const { return g_.stride_h * g_.stride_w * rows_.slots * columns_.slots; }

  // Where the taps land along one axis. Input index i of tap k lands on output index
  // i * stride + k * dilation - pad = (i + base) * stride + phase. Each phase plane keeps `margin`
  // slots before index 0 and enough after its last that every tap adds its whole input row or column
  // range (full-width vector adds, no clipping); what lands outside the image is never copied out.
  struct Axis {
    int64_t margin = 0, slots = 0;                   // slot of phase index j: j + margin; slots per phase
    std::vector<int64_t> slot_of_tap, phase_of_tap;  // per k: the slot its i = 0 lands on, and its phase
  };

 private:
  Col2ImGeometry g_;
  Axis rows_, columns_;
};

}  // namespace kiln::vec
