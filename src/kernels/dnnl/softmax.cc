// Softmax on oneDNN, float32. Opset 13+ normalizes along one axis, which oneDNN does for any axis;
// opsets 1..12 flatten from `axis` to the end, which is the same thing only when axis is the last one.
#include "kernels/dnnl/common.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

struct SoftmaxEntry {
  dnnl::softmax_forward primitive;
  size_t scratchpad = 0;
  bool use_reference = false;
};

class DnnlSoftmaxKernel : public Kernel {
 public:
  DnnlSoftmaxKernel(std::unique_ptr<Kernel> reference, int64_t axis, bool last_axis_only)
      : reference_(std::move(reference)), axis_(axis), last_axis_only_(last_axis_only) {}

  Status run(KernelContext& ctx) const override {
    if (!all_float32_nonempty(ctx, {0}) || !ctx.has_input(0)) return reference_->run(ctx);
    const Tensor& x = ctx.tensor(0);
    if (x.rank() < 1 || x.rank() > DNNL_MAX_NDIMS || axis_ < -x.rank() || axis_ >= x.rank()) {
      return reference_->run(ctx);
    }
    const int64_t axis = axis_ < 0 ? axis_ + x.rank() : axis_;
    if (last_axis_only_ && axis != x.rank() - 1) return reference_->run(ctx);
    ShapeKey key;
    key.add(x.shape());
    if (key.overflow()) return reference_->run(ctx);
    const memory::desc md = plain_desc(to_dims(x.shape()));
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const SoftmaxEntry> e, cache_.get(key, [&] {
      auto entry = std::make_shared<SoftmaxEntry>();
      try {
        dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, md, static_cast<int>(axis));
        const auto pd = dnnl::softmax_forward::primitive_desc(d, base_attr(), cpu_engine());
        entry->primitive = dnnl::softmax_forward(pd);
        entry->scratchpad = pd.scratchpad_desc().get_size();
      } catch (const dnnl::error&) {
        entry->use_reference = true;
      }
      return Expected<std::shared_ptr<const SoftmaxEntry>>(std::shared_ptr<const SoftmaxEntry>(std::move(entry)));
    }));
    if (e->use_reference) return reference_->run(ctx);
    Tensor y(DataType::kFloat32, x.shape(), Tensor::Init::kUninitialized);
    try {
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(md, x.raw())}, {DNNL_ARG_DST, wrap(md, y.raw())}};
      execute(e->primitive, args, e->scratchpad);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN softmax failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> reference_;
  int64_t axis_;
  bool last_axis_only_;
  ShapeCache<SoftmaxEntry> cache_;
};

Expected<std::unique_ptr<Kernel>> make_softmax(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  const bool legacy = b.opset < 13;
  return std::unique_ptr<Kernel>(std::make_unique<DnnlSoftmaxKernel>(
      std::move(reference), b.node.attr_int("axis", legacy ? 1 : -1), legacy));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "Softmax", 1, kMaxOpset, kDnnlPriority, make_softmax);

}  // namespace kiln::dnnl_kernels
