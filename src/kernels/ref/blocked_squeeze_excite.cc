// kiln.BlockedSqueezeExcite, the reference (the operator: kernels/blocked_squeeze_excite_attrs.h): runs
// the reference kernels of the nodes the fused node replaced, one after the other:
// kiln.BlockedGlobalAveragePool, the two kiln.BlockedConv 1x1 convolutions with their activations, and
// Mul. Slow by design: the oracle the vectorized kernel is tested against, and its fallback.
#include <string>

#include "kernels/blocked_squeeze_excite_attrs.h"
#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

constexpr int64_t kMulOpset = 14;

Expected<Value> run_inner(const Kernel& k, const std::vector<const Value*>& inputs, const Frame* frame) {
  std::vector<Value> out(1);
  KernelContext ctx(inputs, &out, frame);
  KILN_RETURN_IF_ERROR(k.run(ctx));
  return std::move(out[0]);
}

class BlockedSqueezeExciteReference : public Kernel {
 public:
  BlockedSqueezeExciteReference(std::unique_ptr<Kernel> pool, std::unique_ptr<Kernel> reduce,
                                std::unique_ptr<Kernel> expand, std::unique_ptr<Kernel> mul)
      : pool_(std::move(pool)), reduce_(std::move(reduce)), expand_(std::move(expand)), mul_(std::move(mul)) {}

  Status run(KernelContext& ctx) const override {
    for (size_t i : {0, 1, 3}) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    const Tensor& w1 = ctx.tensor(1);
    const Tensor& w2 = ctx.tensor(3);
    if (w1.rank() != 4 || w1.dim(2) != 1 || w1.dim(3) != 1) {
      return Status::InvalidArgument("input W1 has shape " + shape_to_string(w1.shape()) + ", expected [R, C, 1, 1]");
    }
    if (w2.rank() != 4 || w2.dim(0) != w1.dim(1) || w2.dim(1) != w1.dim(0) || w2.dim(2) != 1 || w2.dim(3) != 1) {
      return Status::InvalidArgument("input W2 has shape " + shape_to_string(w2.shape()) + ", expected [" +
                                     std::to_string(w1.dim(1)) + ", " + std::to_string(w1.dim(0)) + ", 1, 1]");
    }
    const Frame* frame = ctx.frame();
    const Value& x = ctx.input(0);
    auto optional = [&ctx](size_t i) { return ctx.has_input(i) ? &ctx.input(i) : nullptr; };
    KILN_ASSIGN_OR_RETURN(Value s, run_inner(*pool_, {&x}, frame));
    KILN_ASSIGN_OR_RETURN(Value r, run_inner(*reduce_, {&s, &ctx.input(1), optional(2)}, frame));
    KILN_ASSIGN_OR_RETURN(Value g, run_inner(*expand_, {&r, &ctx.input(3), optional(4)}, frame));
    KILN_ASSIGN_OR_RETURN(Value y, run_inner(*mul_, {&x, &g}, frame));
    ctx.set_output(0, std::move(y));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> pool_, reduce_, expand_, mul_;
};

Expected<std::unique_ptr<Kernel>> make_blocked_squeeze_excite(const KernelBuildContext& b) {
  ir::Node pool;
  pool.domain = "kiln";
  pool.op_type = "BlockedGlobalAveragePool";
  pool.name = b.node.name;
  ir::Node mul;
  mul.op_type = "Mul";
  mul.name = b.node.name;
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> pool_kernel, build_reference_of(pool, 1));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reduce,
                        build_reference_of(squeeze_excite_conv_node(b.node, "reduce"), 1));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> expand,
                        build_reference_of(squeeze_excite_conv_node(b.node, "expand"), 1));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> mul_kernel, build_reference_of(mul, kMulOpset));
  return std::unique_ptr<Kernel>(std::make_unique<BlockedSqueezeExciteReference>(
      std::move(pool_kernel), std::move(reduce), std::move(expand), std::move(mul_kernel)));
}

}  // namespace

KILN_REGISTER_KERNEL("kiln", "BlockedSqueezeExcite", 1, 1, make_blocked_squeeze_excite);

}  // namespace kiln::ref
