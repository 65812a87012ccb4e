// kiln.Attention: multi-head scaled dot-product attention on head-split tensors, the core that
// src/opt/fuse_attention.cc replaces in exported transformer encoders.
//   inputs:    Q [B, Sq, H, D], K [B, Sk, H, D], V [B, Sk, H, Dv], optional Mask (added to the scores;
//              broadcast to [B, H, Sq, Sk] as Add would)
//   attribute: scale (float, default 1)
//   output:    Y [B, Sq, H, Dv] = Transpose(Softmax(scale * Qt Kt + Mask, axis=-1) Vt, perm [0,2,1,3])
//              with Qt = Transpose(Q, [0,2,1,3]), Kt = Transpose(K, [0,2,3,1]), Vt = Transpose(V, [0,2,1,3])
// The reference runs exactly that composition of reference kernels, so it agrees with the unfused
// graph in every case, broadcasts and error messages included.
#include "kernels/kernel.h"

namespace kiln::ref {
namespace {

// One reference node of the composition.
struct Step {
  ir::Node node;
  std::unique_ptr<Kernel> kernel;
};

Expected<Step> make_step(const std::string& op, std::vector<ir::Attribute> attrs) {
  Step s;
  s.node.op_type = op;
  s.node.name = "Attention/" + op;
  s.node.attributes = std::move(attrs);
  const KernelRegistration* reg = KernelRegistry::global().find_below("", op, kMaxOpset, 1);
  if (reg == nullptr) return Status::Internal("no reference kernel for " + op);
  KILN_ASSIGN_OR_RETURN(s.kernel, reg->factory(KernelBuildContext{s.node, kMaxOpset, nullptr}));
  return s;
}

Status apply(const Step& s, std::vector<const Value*> inputs, Value* out) {
  std::vector<Value> outputs(1);
  KernelContext ctx(inputs, &outputs, nullptr);
  KILN_RETURN_IF_ERROR(run_kernel(*s.kernel, ctx));
  *out = std::move(outputs[0]);
  return Status::OK();
}

class AttentionKernel : public Kernel {
 public:
  static Expected<std::unique_ptr<Kernel>> make(const KernelBuildContext& b) {
    auto k = std::make_unique<AttentionKernel>();
    k->scale_ = Value(Tensor::scalar<float>(b.node.attr_float("scale", 1.0f)));
    KILN_ASSIGN_OR_RETURN(k->split_heads_, make_step("Transpose", {ir::Attribute::of_ints("perm", {0, 2, 1, 3})}));
    KILN_ASSIGN_OR_RETURN(k->split_keys_, make_step("Transpose", {ir::Attribute::of_ints("perm", {0, 2, 3, 1})}));
    KILN_ASSIGN_OR_RETURN(k->matmul_, make_step("MatMul", {}));
    KILN_ASSIGN_OR_RETURN(k->mul_, make_step("Mul", {}));
    KILN_ASSIGN_OR_RETURN(k->add_, make_step("Add", {}));
    KILN_ASSIGN_OR_RETURN(k->softmax_, make_step("Softmax", {ir::Attribute::of_int("axis", -1)}));
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status run(KernelContext& ctx) const override {
    for (size_t i = 0; i < 3; ++i) {
      if (!ctx.has_input(i)) return Status::InvalidArgument("input " + std::to_string(i) + " (Q, K, V) is missing");
    }
    Value qt, kt, vt, scores, probs, context, y;
    KILN_RETURN_IF_ERROR(apply(split_heads_, {&ctx.input(0)}, &qt));
    KILN_RETURN_IF_ERROR(apply(split_keys_, {&ctx.input(1)}, &kt));
    KILN_RETURN_IF_ERROR(apply(split_heads_, {&ctx.input(2)}, &vt));
    KILN_RETURN_IF_ERROR(apply(matmul_, {&qt, &kt}, &scores));
    if (scale_.tensor().data<float>()[0] != 1.0f) KILN_RETURN_IF_ERROR(apply(mul_, {&scores, &scale_}, &scores));
    if (ctx.has_input(3)) KILN_RETURN_IF_ERROR(apply(add_, {&scores, &ctx.input(3)}, &scores));
    KILN_RETURN_IF_ERROR(apply(softmax_, {&scores}, &probs));
    KILN_RETURN_IF_ERROR(apply(matmul_, {&probs, &vt}, &context));
    KILN_RETURN_IF_ERROR(apply(split_heads_, {&context}, &y));  // [B,H,Sq,Dv] -> [B,Sq,H,Dv]: the same perm
    ctx.set_output(0, std::move(y));
    return Status::OK();
  }

 private:
  Value scale_;
  Step split_heads_, split_keys_, matmul_, mul_, add_, softmax_;
};

}  // namespace

KILN_REGISTER_KERNEL("kiln", "Attention", 1, 1, AttentionKernel::make);

}  // namespace kiln::ref
