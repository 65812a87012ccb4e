// Softmax on oneDNN, float32. Opset 13+ normalizes along one axis, which oneDNN does for any axis;
// opsets 1..12 flatten from `axis` to the end, which is the same thing only when axis is the last one.
#include "kernels/dnnl/unary_primitive.h"

namespace kiln::dnnl_kernels {
namespace {

class DnnlSoftmaxKernel : public Kernel {
 public:
  DnnlSoftmaxKernel(std::unique_ptr<Kernel> reference, int64_t axis, bool last_axis_only)
      : reference_(std::move(reference)), axis_(axis), last_axis_only_(last_axis_only) {}

  Status run(KernelContext& ctx) const override {
    if (!ctx.has_input(0) || !all_float32_nonempty(ctx, {0})) return reference_->run(ctx);
    const Tensor& x = ctx.tensor(0);
    if (x.rank() < 1 || x.rank() > DNNL_MAX_NDIMS || axis_ < -x.rank() || axis_ >= x.rank()) {
      return reference_->run(ctx);
    }
    const int axis = static_cast<int>(axis_ < 0 ? axis_ + x.rank() : axis_);
    if (last_axis_only_ && axis != x.rank() - 1) return reference_->run(ctx);
    ShapeKey key;
    key.add(x.shape());
    const auto make_desc = [&](const dnnl::memory::desc& md) {
      const dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, md, axis);
      return dnnl::softmax_forward::primitive_desc(d, base_attr(), cpu_engine());
    };
    KILN_ASSIGN_OR_RETURN(Tensor y, primitives_.run(key, plain_desc(to_dims(x.shape())), x, "softmax", make_desc));
    if (!y.defined()) return reference_->run(ctx);
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> reference_;
  int64_t axis_;
  bool last_axis_only_;
  UnaryPrimitiveCache primitives_;
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
