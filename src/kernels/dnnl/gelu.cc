// kiln.Gelu on oneDNN's eltwise primitive (gelu_erf / gelu_tanh), float32; other types go to the
// reference kernel. oneDNN's erf is a polynomial accurate to about 1e-7 absolute, and its tanh form
// is the same formula as ONNX's, so results differ from the double-precision reference by float
// rounding only (the differential test checks 1e-5 relative).
#include "kernels/dnnl/unary_primitive.h"

namespace kiln::dnnl_kernels {
namespace {

class DnnlGeluKernel : public Kernel {
 public:
  DnnlGeluKernel(std::unique_ptr<Kernel> reference, dnnl::algorithm algorithm)
      : reference_(std::move(reference)), algorithm_(algorithm) {}

  Status run(KernelContext& ctx) const override {
    if (!ctx.has_input(0) || !all_float32_nonempty(ctx, {0})) return reference_->run(ctx);
    const Tensor& x = ctx.tensor(0);
    // oneDNN sees the tensor as one flat row: eltwise does not care about the shape.
    ShapeKey key;
    key.add(x.size());
    const auto make_desc = [&](const dnnl::memory::desc& md) {
      const dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, algorithm_, md, 0.f, 0.f);
      return dnnl::eltwise_forward::primitive_desc(d, base_attr(), cpu_engine());
    };
    KILN_ASSIGN_OR_RETURN(Tensor y, primitives_.run(key, plain_desc({x.size()}), x, "gelu", make_desc));
    if (!y.defined()) return reference_->run(ctx);
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> reference_;
  dnnl::algorithm algorithm_;
  UnaryPrimitiveCache primitives_;
};

Expected<std::unique_ptr<Kernel>> make_gelu(const KernelBuildContext& b) {
  // The reference validates the attribute, so a bad one fails the same way here.
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  const bool tanh = b.node.attr_string("approximate", "none") == "tanh";
  return std::unique_ptr<Kernel>(std::make_unique<DnnlGeluKernel>(
      std::move(reference), tanh ? dnnl::algorithm::eltwise_gelu_tanh : dnnl::algorithm::eltwise_gelu_erf));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "Gelu", 1, 1, kDnnlPriority, make_gelu);

}  // namespace kiln::dnnl_kernels
