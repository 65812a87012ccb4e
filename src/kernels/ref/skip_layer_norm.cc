// kiln.SkipLayerNormalization: layer normalization of a residual sum, the pair src/opt/
// fuse_skip_layer_norm.cc fuses in transformer encoders.
//   inputs:     A, B (added with Add's broadcasting), Scale, optional Bias (as LayerNormalization's)
//   attributes: axis (default -1), epsilon (default 1e-5), as LayerNormalization's
//   outputs:    Y = LayerNormalization(A + B, Scale, Bias); optional Sum = A + B, for a node that
//               still needs the residual
// The reference runs the reference Add and LayerNormalization kernels, so it is exactly the pair.
#include "kernels/kernel.h"

namespace kiln::ref {
namespace {

class SkipLayerNormKernel : public Kernel {
 public:
  static Expected<std::unique_ptr<Kernel>> make(const KernelBuildContext& b) {
    auto k = std::make_unique<SkipLayerNormKernel>();
    k->add_node_.op_type = "Add";
    k->norm_node_.op_type = "LayerNormalization";
    k->norm_node_.attributes = {ir::Attribute::of_int("axis", b.node.attr_int("axis", -1)),
                                ir::Attribute::of_float("epsilon", b.node.attr_float("epsilon", 1e-5f))};
    for (auto [node, kernel] : {std::pair{&k->add_node_, &k->add_}, std::pair{&k->norm_node_, &k->norm_}}) {
      const KernelRegistration* reg = KernelRegistry::global().find_below("", node->op_type, kMaxOpset, 1);
      if (reg == nullptr) return Status::Internal("no reference kernel for " + node->op_type);
      KILN_ASSIGN_OR_RETURN(*kernel, reg->factory(KernelBuildContext{*node, kMaxOpset, nullptr}));
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status run(KernelContext& ctx) const override {
    std::vector<Value> sum(1), y(1);
    const std::vector<const Value*> add_in = {ctx.has_input(0) ? &ctx.input(0) : nullptr,
                                              ctx.has_input(1) ? &ctx.input(1) : nullptr};
    KernelContext add_ctx(add_in, &sum, nullptr);
    KILN_RETURN_IF_ERROR(run_kernel(*add_, add_ctx));
    const std::vector<const Value*> norm_in = {&sum[0], ctx.has_input(2) ? &ctx.input(2) : nullptr,
                                               ctx.has_input(3) ? &ctx.input(3) : nullptr};
    KernelContext norm_ctx(norm_in, &y, nullptr);
    KILN_RETURN_IF_ERROR(run_kernel(*norm_, norm_ctx));
    ctx.set_output(0, std::move(y[0]));
    ctx.set_output(1, std::move(sum[0]));
    return Status::OK();
  }

 private:
  ir::Node add_node_, norm_node_;
  std::unique_ptr<Kernel> add_, norm_;
};

}  // namespace

KILN_REGISTER_KERNEL("kiln", "SkipLayerNormalization", 1, 1, SkipLayerNormKernel::make);

}  // namespace kiln::ref
