// BatchNormalization (inference: the given running mean and variance) on oneDNN, float32. Training
// mode, the pre-opset-9 per-activation (`spatial = 0`) form and opsets before 7 stay with the reference.
#include "kernels/dnnl/common.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

struct BatchNormEntry {
  dnnl::batch_normalization_forward primitive;
  size_t scratchpad = 0;
  bool use_reference = false;
};

class DnnlBatchNormKernel : public Kernel {
 public:
  DnnlBatchNormKernel(std::unique_ptr<Kernel> reference, float epsilon)
      : reference_(std::move(reference)), epsilon_(epsilon) {}

  Status run(KernelContext& ctx) const override {
    // More than one output is training mode in opsets 9..13 (and an error at 14+ without training_mode).
    if (ctx.num_outputs() > 1 || ctx.num_inputs() != 5) return reference_->run(ctx);
    for (size_t i = 0; i < 5; ++i) {
      if (!ctx.has_input(i)) return reference_->run(ctx);
    }
    if (!all_float32_nonempty(ctx, {0, 1, 2, 3, 4})) return reference_->run(ctx);
    const Tensor& x = ctx.tensor(0);
    if (x.rank() < 2 || x.rank() > 5) return reference_->run(ctx);
    for (size_t i = 1; i < 5; ++i) {
      if (ctx.tensor(i).rank() != 1 || ctx.tensor(i).dim(0) != x.dim(1)) return reference_->run(ctx);
    }
    ShapeKey key;
    key.add(x.shape());
    const memory::desc xmd = plain_desc(to_dims(x.shape())), cmd = plain_desc({x.dim(1)});
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const BatchNormEntry> e, cache_.get(key, [&] {
      auto entry = std::make_shared<BatchNormEntry>();
      try {
        const auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
                           dnnl::normalization_flags::use_shift;
        dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_inference, xmd, epsilon_, flags);
        const auto pd = dnnl::batch_normalization_forward::primitive_desc(d, base_attr(), cpu_engine());
        entry->primitive = dnnl::batch_normalization_forward(pd);
        entry->scratchpad = pd.scratchpad_desc().get_size();
      } catch (const dnnl::error&) {
        entry->use_reference = true;
      }
      return Expected<std::shared_ptr<const BatchNormEntry>>(std::shared_ptr<const BatchNormEntry>(std::move(entry)));
    }));
    if (e->use_reference) return reference_->run(ctx);
    Tensor y(DataType::kFloat32, x.shape(), Tensor::Init::kUninitialized);
    try {
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(xmd, x.raw())},
                                             {DNNL_ARG_DST, wrap(xmd, y.raw())},
                                             {DNNL_ARG_SCALE, wrap(cmd, ctx.tensor(1).raw())},
                                             {DNNL_ARG_SHIFT, wrap(cmd, ctx.tensor(2).raw())},
                                             {DNNL_ARG_MEAN, wrap(cmd, ctx.tensor(3).raw())},
                                             {DNNL_ARG_VARIANCE, wrap(cmd, ctx.tensor(4).raw())}};
      execute(e->primitive, args, e->scratchpad);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN batch normalization failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> reference_;
  float epsilon_;
  ShapeCache<BatchNormEntry> cache_;
};

Expected<std::unique_ptr<Kernel>> make_batch_norm(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  const ir::Node& n = b.node;
  if (b.opset < 7 || (b.opset < 9 && n.attr_int("spatial", 1) == 0)) return reference;
  if (b.opset >= 14 && n.attr_int("training_mode", 0) != 0) return reference;
  return std::unique_ptr<Kernel>(
      std::make_unique<DnnlBatchNormKernel>(std::move(reference), n.attr_float("epsilon", 1e-5f)));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "BatchNormalization", 1, kMaxOpset, kDnnlPriority, make_batch_norm);

}  // namespace kiln::dnnl_kernels
