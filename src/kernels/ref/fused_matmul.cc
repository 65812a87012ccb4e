// kiln.FusedMatMul and kiln.FusedGemm, the references: the nodes a graph pass fused, run one after the
// other with their own reference kernels, so a fused node computes exactly what they computed.
//
//   kiln.FusedMatMul(A, B [, bias]) = activation(MatMul(A, B) [+ bias])   bias: [N], added along the last axis
//   kiln.FusedGemm(A, B [, C])      = activation(Gemm(A, B, C))           Gemm's attributes
// "activation" and "activation_params" as in kernels/fused_activation.h.
#include "kernels/ref/common.h"
#include "kernels/ref/fused_activation_ref.h"

namespace kiln::ref {
namespace {

// The opset the inner nodes are built at: MatMul, Add and Gemm have today's semantics there.
constexpr int64_t kInnerOpset = 14;

Expected<std::unique_ptr<Kernel>> build_inner(const std::string& op, std::vector<ir::Attribute> attrs,
                                              const std::string& name) {
  ir::Node n;
  n.op_type = op;
  n.name = name;
  n.attributes = std::move(attrs);
  const KernelRegistration* reg = KernelRegistry::global().find_below("", op, kInnerOpset, 1);
  if (reg == nullptr) return Status::Unimplemented("no reference kernel for " + op);
  return reg->factory(KernelBuildContext{n, kInnerOpset, nullptr});
}

// Runs `k` on `inputs` (null entries: omitted) and returns its first output.
Expected<Value> run_inner(const Kernel& k, const std::vector<const Value*>& inputs, const Frame* frame) {
  std::vector<Value> out(1);
  KernelContext ctx(inputs, &out, frame);
  KILN_RETURN_IF_ERROR(k.run(ctx));
  return std::move(out[0]);
}

class FusedMatMulKernel : public Kernel {
 public:
  FusedMatMulKernel(std::unique_ptr<Kernel> product, std::unique_ptr<Kernel> add, FusedActivationReference act)
      : product_(std::move(product)), add_(std::move(add)), act_(std::move(act)) {}

  Status run(KernelContext& ctx) const override {
    // Gemm reads all three inputs; MatMul two, and the bias goes to the Add.
    const size_t product_inputs = add_ ? 2 : 3;
    std::vector<const Value*> in;
    for (size_t i = 0; i < product_inputs && i < ctx.num_inputs(); ++i) {
      in.push_back(ctx.has_input(i) ? &ctx.input(i) : nullptr);
    }
    KILN_ASSIGN_OR_RETURN(Value y, run_inner(*product_, in, ctx.frame()));
    if (add_ && ctx.has_input(2)) {
      KILN_ASSIGN_OR_RETURN(y, run_inner(*add_, {&y, &ctx.input(2)}, ctx.frame()));
    }
    KILN_ASSIGN_OR_RETURN(y, act_.apply(std::move(y), ctx.frame()));
    ctx.set_output(0, std::move(y));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> product_;  // MatMul or Gemm
  std::unique_ptr<Kernel> add_;      // FusedMatMul's bias; null for FusedGemm
  FusedActivationReference act_;
};

std::vector<ir::Attribute> without_activation(const ir::Node& node) {
  std::vector<ir::Attribute> attrs = node.attributes;
  std::erase_if(attrs,
                [](const ir::Attribute& a) { return a.name == kActivationAttr || a.name == kActivationParamsAttr; });
  return attrs;
}

Expected<std::unique_ptr<Kernel>> make_fused_matmul(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(FusedActivation act, parse_fused_activation(b.node));
  KILN_ASSIGN_OR_RETURN(FusedActivationReference act_ref, FusedActivationReference::make(act, b.node.name));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> matmul, build_inner("MatMul", {}, b.node.name));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> add, build_inner("Add", {}, b.node.name));
  return std::unique_ptr<Kernel>(
      std::make_unique<FusedMatMulKernel>(std::move(matmul), std::move(add), std::move(act_ref)));
}

Expected<std::unique_ptr<Kernel>> make_fused_gemm(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(FusedActivation act, parse_fused_activation(b.node));
  KILN_ASSIGN_OR_RETURN(FusedActivationReference act_ref, FusedActivationReference::make(act, b.node.name));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> gemm, build_inner("Gemm", without_activation(b.node), b.node.name));
  return std::unique_ptr<Kernel>(std::make_unique<FusedMatMulKernel>(std::move(gemm), nullptr, std::move(act_ref)));
}

}  // namespace

KILN_REGISTER_KERNEL("kiln", "FusedMatMul", 1, 1, make_fused_matmul);
KILN_REGISTER_KERNEL("kiln", "FusedGemm", 1, 1, make_fused_gemm);

}  // namespace kiln::ref
