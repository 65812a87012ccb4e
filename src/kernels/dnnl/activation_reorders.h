// A primitive that runs on activations in a layout of its own choosing (format_tag::any) while the
// caller holds them in ONNX's plain layout: X is reordered into the primitive's layout before it runs
// and Y out of its layout after, through buffers of the calling thread that only grow (a seen shape
// allocates nothing). The Conv and ConvTranspose kernels use it where oneDNN 2.6 has fast
// implementations only for blocked activations (grouped and depthwise convolutions, deconvolutions).
#pragma once

#include <cstddef>
#include <oneapi/dnnl/dnnl.hpp>

namespace kiln::dnnl_kernels {

class ActivationReorders {
 public:
  // For a primitive whose source and destination are `src` and `dst`, where the caller has
  // `src_plain` and `dst_plain`. Either pair may match, and then needs no reorder. Throws dnnl::error.
  ActivationReorders(const dnnl::memory::desc& src, const dnnl::memory::desc& src_plain, const dnnl::memory::desc& dst,
                     const dnnl::memory::desc& dst_plain);

  // The primitive's source: `plain` itself, or its copy in the primitive's layout. Throws dnnl::error.
  dnnl::memory source(const dnnl::memory& plain) const;
  // Where the primitive writes: `plain` itself, or a buffer that finish() copies into `plain`.
  dnnl::memory destination(const dnnl::memory& plain) const;
  // After the primitive ran: `written` (destination()'s memory) into `plain`. Throws dnnl::error.
  void finish(const dnnl::memory& written, const dnnl::memory& plain) const;

 private:
  dnnl::memory::desc src_, dst_;
  dnnl::reorder to_src_, from_dst_;
  bool reorder_src_ = false, reorder_dst_ = false;
  size_t src_scratchpad_ = 0, dst_scratchpad_ = 0;
};

}  // namespace kiln::dnnl_kernels
