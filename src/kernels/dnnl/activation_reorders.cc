#include "kernels/dnnl/activation_reorders.h"

#include <unordered_map>

#include "kernels/dnnl/common.h"

namespace kiln::dnnl_kernels {

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
  dnnl::memory blocked(src_, cpu_engine(), thread_buffer(ThreadBuffer::kReorderedSource, src_.get_size()));
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, blocked}};
  execute(to_src_, args, src_scratchpad_);
  return blocked;
}

dnnl::memory ActivationReorders::destination(const dnnl::memory& plain) const {
  if (!reorder_dst_) return plain;
  return dnnl::memory(dst_, cpu_engine(), thread_buffer(ThreadBuffer::kReorderedDestination, dst_.get_size()));
}

void ActivationReorders::finish(const dnnl::memory& written, const dnnl::memory& plain) const {
  if (!reorder_dst_) return;
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, written}, {DNNL_ARG_TO, plain}};
  execute(from_dst_, args, dst_scratchpad_);
}

}  // namespace kiln::dnnl_kernels
