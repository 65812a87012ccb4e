// A constant weight matrix of a oneDNN matmul, reordered once into each layout a primitive asks for.
//
// The primitive is cached per input shape (the M dimension varies with the batch), but the layout
// oneDNN picks for the weights (format_tag::any) depends on K and N and the ISA, rarely on M: so the
// packed copies are kept here, per layout, and every primitive that wants a layout already made shares
// it. A model loaded once and run at batch 1, 8 and 64 packs its weights once.
#pragma once

#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "kernels/dnnl/common.h"
#include "kernels/kernel.h"
#include "kiln/tensor.h"

namespace kiln::dnnl_kernels {

class PackedWeights {
 public:
  // `source` holds the weights as `plain` describes them (row-major, or a transposed view by strides);
  // `constant` is the model's tensor they stand for (the same as source, or the one source was scaled
  // from); only its address is kept.
  PackedWeights(Tensor source, dnnl::memory::desc plain, Tensor constant)
      : source_(std::move(source)),
        plain_(std::move(plain)),
        constant_address_(constant.raw()),
        shape_(source_.shape()) {}

  // True if `w` is the constant these weights were made from (and not another tensor of that shape).
  // By address: while anyone can pass the constant, the model holds it, so the address is not reused.
  bool stand_for(const Tensor& w) const { return w.defined() && w.raw() == constant_address_; }

  // Lets go of the plain source, keeping only the packed copies (a layout asked for later is reordered
  // from the first one); the kernel then takes an absent weights input to mean the constant. False, and
  // nothing released, when no packed copy exists (the pre-pack failed). Not thread-safe: call while
  // building the kernel.
  bool release_source();
  bool released() const { return released_; }
  // The source's shape (as `plain` describes it), kept after release.
  const Shape& shape() const { return shape_; }

  // The weights in layout `md`: the copy made earlier, or a new one, reordered now. Thread-safe.
  // Throws dnnl::error (as oneDNN does) when the reorder cannot be made.
  dnnl::memory in_layout(const dnnl::memory::desc& md) const;
  // The source again, reordered back from the packed copy: what a reference path reads once the
  // source is released. A new tensor per call. Thread-safe; throws dnnl::error like in_layout.
  Tensor unpack() const;

 private:
  Tensor source_;
  dnnl::memory::desc plain_;
  const void* constant_address_;
  Shape shape_;
  bool released_ = false;
  mutable std::mutex mu_;
  // One per layout asked for, in order of first use, each in pages of its own (common.h: owned_memory);
  // the memory objects handed out are valid while this object lives.
  mutable std::vector<OwnedMemory> packed_;
};

// How a kernel holding `packed` (may be null) reads its weights input i in one run. Once the plan has
// freed the constant, the input reads as absent and the packed copy stands for it.
struct WeightsInput {
  const Shape* shape = nullptr;  // null: not a float32 tensor the kernel takes (hand the run to the reference)
  bool use_packed = false;       // the packed copy stands for the input (freed, or the very constant)
};
WeightsInput weights_input(const KernelContext& ctx, size_t i, const PackedWeights* packed);

// Runs `reference` (a fast kernel's fallback) on ctx. When `packed` (may be null) is released and input
// `i` - the constant it stands for - reads as absent (the plan freed it), the reference gets the weights
// unpacked instead: slower, but only shapes the fast path cannot take come here. Counted
// (reference_fallbacks.h).
Status run_reference(const Kernel& reference, KernelContext& ctx, size_t i, const PackedWeights* packed);

}  // namespace kiln::dnnl_kernels
