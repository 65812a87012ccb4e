// kiln.ReorderToBlocked and kiln.ReorderFromBlocked on oneDNN's reorder primitive (nchw <-> nChw8c or
// nChw16c),
// float32, 2-D images: a region border costs one vectorized copy, not a strided scalar loop (the
// reference, kernels/ref/blocked_reorder.cc, handles everything else and names the errors).
// ReorderToBlocked writes zeros into the padding lanes, as the reference does.
#include <string>
#include <unordered_map>

#include "kernels/blocked_layout.h"
#include "kernels/dnnl/common.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

struct ReorderEntry {
  dnnl::reorder primitive;
  size_t scratchpad = 0;
  bool use_reference = false;
};

class DnnlBlockedReorderKernel : public Kernel {
 public:
  // to_blocked: plain -> blocked in blocks of `block`; else blocked -> plain with `channels` channels.
  DnnlBlockedReorderKernel(std::unique_ptr<Kernel> reference, bool to_blocked, int64_t channels, int64_t block)
      : reference_(std::move(reference)), to_blocked_(to_blocked), channels_(channels), block_(block) {}

  Status run(KernelContext& ctx) const override {
    if (!all_float32_nonempty(ctx, {0}) || !ctx.has_input(0)) return reference_->run(ctx);
    const Tensor& x = ctx.tensor(0);
    Shape plain;
    const int64_t block = to_blocked_ ? block_ : channel_block_of(x.shape());
    if (blocked_tag(block) == memory::format_tag::undef) return reference_->run(ctx);
    if (to_blocked_) {
      if (x.rank() != 4) return reference_->run(ctx);
      plain = x.shape();
    } else {
      if (x.rank() != 5 || x.dim(1) != channel_blocks(channels_, block)) return reference_->run(ctx);
      plain = plain_shape(x.shape(), channels_);
    }
    const memory::desc plain_md = plain_desc(to_dims(plain));
    const memory::desc blocked_md = blocked_desc(to_dims(plain), block);
    ShapeKey key;
    key.add(x.shape());
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const ReorderEntry> e, cache_.get(key, [&] {
      auto entry = std::make_shared<ReorderEntry>();
      try {
        const dnnl::reorder::primitive_desc pd = to_blocked_
            ? dnnl::reorder::primitive_desc(cpu_engine(), plain_md, cpu_engine(), blocked_md, base_attr())
            : dnnl::reorder::primitive_desc(cpu_engine(), blocked_md, cpu_engine(), plain_md, base_attr());
        entry->primitive = dnnl::reorder(pd);
        entry->scratchpad = pd.scratchpad_desc().get_size();
      } catch (const dnnl::error&) {
        entry->use_reference = true;
      }
      return Expected<std::shared_ptr<const ReorderEntry>>(std::shared_ptr<const ReorderEntry>(std::move(entry)));
    }));
    if (e->use_reference) return reference_->run(ctx);
    // oneDNN writes zeros into the padding lanes of a blocked destination.
    Tensor y(DataType::kFloat32, to_blocked_ ? blocked_shape(plain, block) : plain, Tensor::Init::kUninitialized);
    try {
      const memory::desc& from = to_blocked_ ? plain_md : blocked_md;
      const memory::desc& to = to_blocked_ ? blocked_md : plain_md;
      std::unordered_map<int, memory> args{{DNNL_ARG_FROM, wrap(from, x.raw())}, {DNNL_ARG_TO, wrap(to, y.raw())}};
      execute(e->primitive, args, e->scratchpad);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN reorder failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> reference_;
  bool to_blocked_;
  int64_t channels_;
  int64_t block_;  // ReorderToBlocked's channel_block
  ShapeCache<ReorderEntry> cache_;
};

KernelFactory reorder_factory(bool to_blocked) {
  return [to_blocked](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
    const int64_t channels = b.node.attr_int("channels", 1);
    const int64_t block = b.node.attr_int(kChannelBlockAttr, kDefaultChannelBlock);
    return std::unique_ptr<Kernel>(
        std::make_unique<DnnlBlockedReorderKernel>(std::move(reference), to_blocked, channels, block));
  };
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "ReorderToBlocked", 1, 1, kDnnlPriority, reorder_factory(true));
KILN_REGISTER_KERNEL_PRIORITY("kiln", "ReorderFromBlocked", 1, 1, kDnnlPriority, reorder_factory(false));

}  // namespace kiln::dnnl_kernels
