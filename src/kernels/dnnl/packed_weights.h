// A constant weight matrix of a oneDNN matmul, reordered once into each layout a primitive asks for.
//
// The primitive is cached per input shape (the M dimension varies with the batch), but the layout
// oneDNN picks for the weights (format_tag::any) depends on K and N and the ISA, rarely on M: so the
// packed copies are kept here, per layout, and every primitive that wants a layout already made shares
// it. A model loaded once and run at batch 1, 8 and 64 packs its weights once.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "kiln/tensor.h"

namespace kiln::dnnl_kernels {

class PackedWeights {
 public:
  // `source` holds the weights as `plain` describes them (row-major, or a transposed view by strides);
  // `constant` is the model's tensor they stand for (the same as source, or the one source was scaled
  // from). Both share storage with the model, which outlives the kernel.
  PackedWeights(Tensor source, dnnl::memory::desc plain, Tensor constant)
      : source_(std::move(source)), plain_(std::move(plain)), constant_(std::move(constant)) {}

  // True if `w` is the constant these weights were made from (and not another tensor of that shape).
  bool stand_for(const Tensor& w) const { return w.raw() == constant_.raw(); }

  // The weights in layout `md`: the copy made earlier, or a new one, reordered now. Thread-safe.
  // Throws dnnl::error (as oneDNN does) when the reorder cannot be made.
  dnnl::memory in_layout(const dnnl::memory::desc& md) const;

 private:
  Tensor source_;
  dnnl::memory::desc plain_;
  Tensor constant_;
  mutable std::mutex mu_;
  mutable std::vector<dnnl::memory> packed_;  // one per layout asked for, in order of first use
};

}  // namespace kiln::dnnl_kernels
