#include "kernels/dnnl/activation_reorders.h"

#include "kernels/dnnl/common.h"

namespace kiln::dnnl_kernels {

ActivationReorders::ActivationReorders(const dnnl::memory::desc& src, const dnnl::memory::desc& src_plain,
                                       const dnnl::memory::desc& dst, const dnnl::memory::desc& dst_plain)
    : src_(src), dst_(dst), reorder_src_(!(src == src_plain)), reorder_dst_(!(dst == dst_plain)) {
  if (reorder_src_) {
    const dnnl::reorder::primitive_desc pd(cpu_engine(), src_plain, cpu_engine(), src, base_attr());
    to_src_ = dnnl::reorder(pd);
    src_scratchpad_ = pd.scratchpad_desc().get_size();
    memories_.init(kSourceSlot, src);
  }
  if (reorder_dst_) {
    const dnnl::reorder::primitive_desc pd(cpu_engine(), dst, cpu_engine(), dst_plain, base_attr());
    from_dst_ = dnnl::reorder(pd);
    dst_scratchpad_ = pd.scratchpad_desc().get_size();
    memories_.init(kDestinationSlot, dst);
  }
}

const dnnl::memory& ActivationReorders::Run::source(const dnnl::memory& plain) {
  if (!r_.reorder_src_) return plain;
  const dnnl::memory& blocked =
      memories_.bind(kSourceSlot, thread_buffer(ScratchSlot::kReorderedSource, r_.src_.get_size()));
  ExecArgs args;
  args.add(DNNL_ARG_FROM, plain);
  args.add(DNNL_ARG_TO, blocked);
  execute(r_.to_src_, args, r_.src_scratchpad_);
  return blocked;
}

const dnnl::memory& ActivationReorders::Run::destination(const dnnl::memory& plain) {
  if (!r_.reorder_dst_) return plain;
  written_ = &memories_.bind(kDestinationSlot, thread_buffer(ScratchSlot::kReorderedDestination, r_.dst_.get_size()));
  return *written_;
}

void ActivationReorders::Run::finish(const dnnl::memory& plain) {
  if (written_ == nullptr) return;
  ExecArgs args;
  args.add(DNNL_ARG_FROM, *written_);
  args.add(DNNL_ARG_TO, plain);
  execute(r_.from_dst_, args, r_.dst_scratchpad_);
}

}  // namespace kiln::dnnl_kernels
