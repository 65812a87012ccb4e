// MaxPool, AveragePool and GlobalAveragePool on oneDNN's pooling primitive, float32, 1 to 3 spatial
// dimensions; and their blocked twins kiln.BlockedMaxPool, kiln.BlockedAveragePool and
// kiln.BlockedGlobalAveragePool, 2-D, whose X and Y are nChw8c or nChw16c (kiln's blocked [N, Cb, H, W,
// B]) with all Cb*B channels pooled, padding lanes included. One kernel serves both layouts: only the memory
// descriptors and the output's shape differ. Left to the reference: MaxPool's Indices output,
// dilations, and ceil_mode windows that reach past the padded input (oneDNN would count their padding
// differently).
#include <unordered_map>

#include "kernels/blocked_layout.h"
#include "kernels/dnnl/common.h"
#include "kernels/ref/window.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

enum class PoolKind { kMax, kAverage, kGlobalAverage };

struct PoolEntry {
  dnnl::pooling_forward primitive;
  size_t scratchpad = 0;
  bool use_reference = false;
};

enum class PoolLayout { kPlain, kBlocked };

class DnnlPoolKernel : public Kernel {
 public:
  DnnlPoolKernel(std::unique_ptr<Kernel> reference, PoolKind kind, PoolLayout layout, ref::WindowAttrs attrs,
                 bool count_include_pad)
      : reference_(std::move(reference)), kind_(kind), layout_(layout), attrs_(std::move(attrs)),
        count_include_pad_(count_include_pad) {}

  Status run(KernelContext& ctx) const override {
    if (!all_float32_nonempty(ctx, {0}) || !ctx.has_input(0) || ctx.num_outputs() > 1) return reference_->run(ctx);
    const Tensor& x = ctx.tensor(0);
    const bool blocked = layout_ == PoolLayout::kBlocked;
    const int64_t block = blocked ? channel_block_of(x.shape()) : 0;
    if (blocked ? (x.rank() != 5 || blocked_tag(block) == memory::format_tag::undef) : (x.rank() < 3 || x.rank() > 5)) {
      return reference_->run(ctx);
    }
    // The logical NC... dims oneDNN pools over (a blocked X holds Cb * B channels).
    const memory::dims src =
        blocked ? memory::dims{x.dim(0), x.dim(1) * block, x.dim(2), x.dim(3)} : to_dims(x.shape());
    const Shape spatial(src.begin() + 2, src.end());
    memory::dims kernel, strides, pad_l, pad_r, dst{src[0], src[1]};
    if (kind_ == PoolKind::kGlobalAverage) {
      kernel.assign(spatial.begin(), spatial.end());
      strides.assign(spatial.size(), 1);
      pad_l.assign(spatial.size(), 0);
      pad_r.assign(spatial.size(), 0);
      dst.resize(src.size(), 1);
    } else {
      if (attrs_.kernel_shape.size() != spatial.size()) return reference_->run(ctx);
      auto g = ref::forward_geometry(attrs_, spatial, attrs_.kernel_shape);
      if (!g.ok() || g->out_size() == 0) return reference_->run(ctx);
      for (size_t d = 0; d < g->rank(); ++d) {
        if (g->dilation[d] != 1) return reference_->run(ctx);
        // oneDNN's output size is the floor formula; a ceil_mode window beyond it stays with the reference.
        const int64_t floor_out = (g->in[d] + g->pad_begin[d] + g->pad_end[d] - g->kernel[d]) / g->stride[d] + 1;
        if (floor_out != g->out[d]) return reference_->run(ctx);
        kernel.push_back(g->kernel[d]);
        strides.push_back(g->stride[d]);
        pad_l.push_back(g->pad_begin[d]);
        pad_r.push_back(g->pad_end[d]);
        dst.push_back(g->out[d]);
      }
    }
    ShapeKey key;
    key.add(x.shape());
    if (key.overflow()) return reference_->run(ctx);
    const memory::desc smd = desc(src, block), dmd = desc(dst, block);
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const PoolEntry> e, cache_.get(key, [&] {
      auto entry = std::make_shared<PoolEntry>();
      try {
        const dnnl::algorithm alg = kind_ == PoolKind::kMax ? dnnl::algorithm::pooling_max
                                    : count_include_pad_    ? dnnl::algorithm::pooling_avg_include_padding
                                                            : dnnl::algorithm::pooling_avg_exclude_padding;
        dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, alg, smd, dmd, strides, kernel, pad_l,
                                      pad_r);
        const auto pd = dnnl::pooling_forward::primitive_desc(d, base_attr(), cpu_engine());
        entry->primitive = dnnl::pooling_forward(pd);
        entry->scratchpad = pd.scratchpad_desc().get_size();
      } catch (const dnnl::error&) {
        entry->use_reference = true;
      }
      return Expected<std::shared_ptr<const PoolEntry>>(std::shared_ptr<const PoolEntry>(std::move(entry)));
    }));
    if (e->use_reference) return reference_->run(ctx);
    const Shape y_shape = blocked ? Shape{dst[0], x.dim(1), dst[2], dst[3], block} : Shape(dst.begin(), dst.end());
    Tensor y(DataType::kFloat32, y_shape, Tensor::Init::kUninitialized);
    try {
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(smd, x.raw())}, {DNNL_ARG_DST, wrap(dmd, y.raw())}};
      execute(e->primitive, args, e->scratchpad);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string(blocked ? "oneDNN blocked pooling failed: " : "oneDNN pooling failed: ") +
                              err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  // `block`: X's channel block, for the blocked layout.
  memory::desc desc(const memory::dims& dims, int64_t block) const {
    return layout_ == PoolLayout::kBlocked ? blocked_desc(dims, block) : plain_desc(dims);
  }

  std::unique_ptr<Kernel> reference_;
  PoolKind kind_;
  PoolLayout layout_;
  ref::WindowAttrs attrs_;
  bool count_include_pad_;
  ShapeCache<PoolEntry> cache_;
};

KernelFactory pool_factory(PoolKind kind, PoolLayout layout = PoolLayout::kPlain) {
  return [kind, layout](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
    ref::WindowAttrs attrs;
    if (kind != PoolKind::kGlobalAverage) {
      auto parsed = ref::parse_window_attrs(b.node);
      if (!parsed.ok() || parsed->kernel_shape.empty()) return reference;
      attrs = std::move(parsed).value();
    }
    const bool include_pad = kind == PoolKind::kAverage && b.node.attr_int("count_include_pad", 0) != 0;
    return std::unique_ptr<Kernel>(
        std::make_unique<DnnlPoolKernel>(std::move(reference), kind, layout, std::move(attrs), include_pad));
  };
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "MaxPool", 1, kMaxOpset, kDnnlPriority, pool_factory(PoolKind::kMax));
KILN_REGISTER_KERNEL_PRIORITY("", "AveragePool", 1, kMaxOpset, kDnnlPriority, pool_factory(PoolKind::kAverage));
KILN_REGISTER_KERNEL_PRIORITY("", "GlobalAveragePool", 1, kMaxOpset, kDnnlPriority,
                              pool_factory(PoolKind::kGlobalAverage));
KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedMaxPool", 1, 1, kDnnlPriority,
                              pool_factory(PoolKind::kMax, PoolLayout::kBlocked));
KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedAveragePool", 1, 1, kDnnlPriority,
                              pool_factory(PoolKind::kAverage, PoolLayout::kBlocked));
KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedGlobalAveragePool", 1, 1, kDnnlPriority,
                              pool_factory(PoolKind::kGlobalAverage, PoolLayout::kBlocked));

}  // namespace kiln::dnnl_kernels
