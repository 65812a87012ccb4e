// kiln.BlockedMaxPool, kiln.BlockedAveragePool and kiln.BlockedGlobalAveragePool on oneDNN's pooling
// primitive, float32, 2-D: X and Y are nChw16c (kiln's blocked [N, Cb, H, W, 16]) with all Cb*16
// channels pooled, padding lanes included. Left to the reference (kernels/ref/blocked_pool.cc), as for
// the plain pooling kernels: MaxPool's Indices, dilations, and ceil_mode windows past the padded input.
#include <string>
#include <unordered_map>

#include "kernels/blocked_layout.h"
#include "kernels/dnnl/common.h"
#include "kernels/ref/window.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

enum class PoolKind { kMax, kAverage, kGlobalAverage };

struct BlockedPoolEntry {
  dnnl::pooling_forward primitive;
  size_t scratchpad = 0;
  bool use_reference = false;
};

memory::desc blocked_desc(const memory::dims& dims) {
  return memory::desc(dims, memory::data_type::f32, memory::format_tag::nChw16c);
}

class DnnlBlockedPoolKernel : public Kernel {
 public:
  DnnlBlockedPoolKernel(std::unique_ptr<Kernel> reference, PoolKind kind, ref::WindowAttrs attrs, bool include_pad)
      : reference_(std::move(reference)), kind_(kind), attrs_(std::move(attrs)), include_pad_(include_pad) {}

  Status run(KernelContext& ctx) const override {
    if (!all_float32_nonempty(ctx, {0}) || !ctx.has_input(0) || ctx.num_outputs() > 1) return reference_->run(ctx);
    const Tensor& x = ctx.tensor(0);
    if (x.rank() != 5 || x.dim(4) != kChannelBlock) return reference_->run(ctx);
    const memory::dims src{x.dim(0), x.dim(1) * kChannelBlock, x.dim(2), x.dim(3)};
    memory::dims kernel, strides, pad_l, pad_r, dst{src[0], src[1]};
    if (kind_ == PoolKind::kGlobalAverage) {
      kernel = {src[2], src[3]};
      strides = {1, 1};
      pad_l = pad_r = {0, 0};
      dst.insert(dst.end(), {1, 1});
    } else {
      if (attrs_.kernel_shape.size() != 2) return reference_->run(ctx);
      auto g = ref::forward_geometry(attrs_, {src[2], src[3]}, attrs_.kernel_shape);
      if (!g.ok() || g->out_size() == 0) return reference_->run(ctx);
      for (size_t d = 0; d < 2; ++d) {
        if (g->dilation[d] != 1) return reference_->run(ctx);
        const int64_t floor_out = (g->in[d] + g->pad_begin[d] + g->pad_end[d] - g->kernel[d]) / g->stride[d] + 1;
        if (floor_out != g->out[d]) return reference_->run(ctx);  // a ceil_mode window past the input
        kernel.push_back(g->kernel[d]);
        strides.push_back(g->stride[d]);
        pad_l.push_back(g->pad_begin[d]);
        pad_r.push_back(g->pad_end[d]);
        dst.push_back(g->out[d]);
      }
    }
    ShapeKey key;
    key.add(x.shape());
    const memory::desc smd = blocked_desc(src), dmd = blocked_desc(dst);
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const BlockedPoolEntry> e, cache_.get(key, [&] {
      auto entry = std::make_shared<BlockedPoolEntry>();
      try {
        const dnnl::algorithm alg = kind_ == PoolKind::kMax ? dnnl::algorithm::pooling_max
                                    : include_pad_          ? dnnl::algorithm::pooling_avg_include_padding
                                                            : dnnl::algorithm::pooling_avg_exclude_padding;
        dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, alg, smd, dmd, strides, kernel, pad_l,
                                      pad_r);
        const auto pd = dnnl::pooling_forward::primitive_desc(d, base_attr(), cpu_engine());
        entry->primitive = dnnl::pooling_forward(pd);
        entry->scratchpad = pd.scratchpad_desc().get_size();
      } catch (const dnnl::error&) {
        entry->use_reference = true;
      }
      return Expected<std::shared_ptr<const BlockedPoolEntry>>(std::shared_ptr<const BlockedPoolEntry>(std::move(entry)));
    }));
    if (e->use_reference) return reference_->run(ctx);
    Tensor y(DataType::kFloat32, {dst[0], x.dim(1), dst[2], dst[3], kChannelBlock}, Tensor::Init::kUninitialized);
    try {
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(smd, x.raw())}, {DNNL_ARG_DST, wrap(dmd, y.raw())}};
      execute(e->primitive, args, e->scratchpad);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN blocked pooling failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> reference_;
  PoolKind kind_;
  ref::WindowAttrs attrs_;
  bool include_pad_;
  ShapeCache<BlockedPoolEntry> cache_;
};

KernelFactory blocked_pool_factory(PoolKind kind) {
  return [kind](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
    ref::WindowAttrs attrs;
    if (kind != PoolKind::kGlobalAverage) {
      auto parsed = ref::parse_window_attrs(b.node);
      if (!parsed.ok() || parsed->kernel_shape.empty()) return reference;
      attrs = std::move(parsed).value();
    }
    const bool include_pad = kind == PoolKind::kAverage && b.node.attr_int("count_include_pad", 0) != 0;
    return std::unique_ptr<Kernel>(
        std::make_unique<DnnlBlockedPoolKernel>(std::move(reference), kind, std::move(attrs), include_pad));
  };
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedMaxPool", 1, 1, kDnnlPriority, blocked_pool_factory(PoolKind::kMax));
KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedAveragePool", 1, 1, kDnnlPriority,
                              blocked_pool_factory(PoolKind::kAverage));
KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedGlobalAveragePool", 1, 1, kDnnlPriority,
                              blocked_pool_factory(PoolKind::kGlobalAverage));

}  // namespace kiln::dnnl_kernels
