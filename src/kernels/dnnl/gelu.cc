// kiln.Gelu on oneDNN's eltwise primitive (gelu_erf / gelu_tanh), float32; other types go to the
// reference kernel. oneDNN's erf is a polynomial accurate to about 1e-7 absolute, and its tanh form
// is the same formula as ONNX's, so results differ from the double-precision reference by float
// rounding only (the differential test checks 1e-5 relative).
#include "kernels/dnnl/common.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

struct GeluEntry {
  dnnl::eltwise_forward primitive;
  size_t scratchpad = 0;
  bool use_reference = false;  // oneDNN has no implementation here
};

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
    const memory::desc md = plain_desc({x.size()});
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const GeluEntry> e, cache_.get(key, [&] {
      auto entry = std::make_shared<GeluEntry>();
      try {
        dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, algorithm_, md, 0.f, 0.f);
        const auto pd = dnnl::eltwise_forward::primitive_desc(d, base_attr(), cpu_engine());
        entry->primitive = dnnl::eltwise_forward(pd);
        entry->scratchpad = pd.scratchpad_desc().get_size();
      } catch (const dnnl::error&) {
        entry->use_reference = true;
      }
      return Expected<std::shared_ptr<const GeluEntry>>(std::shared_ptr<const GeluEntry>(std::move(entry)));
    }));
    if (e->use_reference) return reference_->run(ctx);
    Tensor y(DataType::kFloat32, x.shape());
    try {
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(md, x.raw())}, {DNNL_ARG_DST, wrap(md, y.raw())}};
      execute(e->primitive, args, e->scratchpad);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN gelu failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> reference_;
  dnnl::algorithm algorithm_;
  ShapeCache<GeluEntry> cache_;
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
