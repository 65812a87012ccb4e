#include "kernels/dnnl/activation_reorders.h"

#include <cstdlib>
#include <memory>
#include <unordered_map>

#include "kernels/dnnl/common.h"

namespace kiln::dnnl_kernels {
namespace {

// A buffer of the calling thread, one per slot (0: source, 1: destination), that only grows.
void* thread_buffer(int slot, size_t bytes) {
  struct Free {
    void operator()(void* q) const { std::free(q); }
  };
  thread_local std::unique_ptr<void, Free> buffers[2];
  thread_local size_t capacity[2] = {0, 0};
  if (capacity[slot] < bytes) {
    const size_t rounded = (bytes + 4095) / 4096 * 4096;
    buffers[slot].reset(std::aligned_alloc(4096, rounded));
    if (!buffers[slot]) throw dnnl::error(dnnl_out_of_memory, "cannot allocate an activation buffer");
    capacity[slot] = rounded;
  }
  return buffers[slot].get();
}

}  // namespace

ActivationReorders::ActivationReorders(const dnnl::memory::desc& src, const dnnl::memory::desc& src_plain,
                                       const dnnl::memory::desc& dst, const dnnl::memory::desc& dst_plain)
    : src_(src), dst_(dst), reorder_src_(!(src == src_plain)), reorder_dst_(!(dst == dst_plain)) {
  if (reorder_src_) {
    const dnnl::reorder::primitive_desc pd(cpu_engine(), src_plain, cpu_engine(), src, base_attr());
    to_src_ = dnnl::reorder(pd);
    src_scratchpad_ = pd.scratchpad_desc().get_size();
  }
  if (reorder_dst_) {
    const dnnl::reorder::primitive_desc pd(cpu_engine(), dst, cpu_engine(), dst_plain, base_attr());
    from_dst_ = dnnl::reorder(pd);
    dst_scratchpad_ = pd.scratchpad_desc().get_size();
  }
}

dnnl::memory ActivationReorders::source(const dnnl::memory& plain) const {
  if (!reorder_src_) return plain;
  dnnl::memory blocked(src_, cpu_engine(), thread_buffer(0, src_.get_size()));
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, blocked}};
  execute(to_src_, args, src_scratchpad_);
  return blocked;
}

dnnl::memory ActivationReorders::destination(const dnnl::memory& plain) const {
  if (!reorder_dst_) return plain;
  return dnnl::memory(dst_, cpu_engine(), thread_buffer(1, dst_.get_size()));
}

void ActivationReorders::finish(const dnnl::memory& written, const dnnl::memory& plain) const {
  if (!reorder_dst_) return;
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, written}, {DNNL_ARG_TO, plain}};
  execute(from_dst_, args, dst_scratchpad_);
}

}  // namespace kiln::dnnl_kernels
