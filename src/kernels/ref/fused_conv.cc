// kiln.FusedConv and kiln.FusedConvTranspose, the reference: the reference Conv or ConvTranspose, then
// the activation's own reference kernel on its result, so the fused node computes exactly what the two
// nodes it replaced computed.
#include "kernels/fused_activation.h"
#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

// The opset the inner nodes are built at: every fusable activation exists there with today's semantics.
constexpr int64_t kInnerOpset = 14;

class FusedConvKernel : public Kernel {
 public:
  FusedConvKernel(std::unique_ptr<Kernel> conv, std::unique_ptr<Kernel> activation, std::vector<float> clip_bounds)
      : conv_(std::move(conv)), activation_(std::move(activation)), clip_bounds_(std::move(clip_bounds)) {}

  Status run(KernelContext& ctx) const override {
    std::vector<Value> conv_out(1);
    std::vector<const Value*> conv_in;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) conv_in.push_back(ctx.has_input(i) ? &ctx.input(i) : nullptr);
    KernelContext conv_ctx(conv_in, &conv_out, ctx.frame());
    KILN_RETURN_IF_ERROR(conv_->run(conv_ctx));
    if (!activation_) {
      ctx.set_output(0, std::move(conv_out[0]));
      return Status::OK();
    }
    std::vector<const Value*> act_in{&conv_out[0]};
    // Clip's min and max, as scalars of the output's type (made per run: this is the reference path).
    std::vector<Value> bounds;
    if (!clip_bounds_.empty() && conv_out[0].is_tensor()) {
      KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, conv_out[0].tensor().dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        for (float v : clip_bounds_) bounds.emplace_back(Tensor::scalar<T>(convert_element<T>(v)));
        return Status::OK();
      }));
    }
    for (const Value& v : bounds) act_in.push_back(&v);
    std::vector<Value> act_out(1);
    KernelContext act_ctx(act_in, &act_out, ctx.frame());
    KILN_RETURN_IF_ERROR(activation_->run(act_ctx));
    ctx.set_output(0, std::move(act_out[0]));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> conv_;
  std::unique_ptr<Kernel> activation_;  // null: no activation
  std::vector<float> clip_bounds_;      // Clip's min and max
};

Expected<std::unique_ptr<Kernel>> build_inner(const ir::Node& node) {
  const KernelRegistration* reg = KernelRegistry::global().find_below(node.domain, node.op_type, kInnerOpset, 1);
  if (reg == nullptr) return Status::Unimplemented("no reference kernel for " + node.op_type);
  return reg->factory(KernelBuildContext{node, kInnerOpset, nullptr});
}

// The fused node's reference: `inner_op` (Conv or ConvTranspose), then the activation.
Expected<std::unique_ptr<Kernel>> make_fused(const KernelBuildContext& b, const char* inner_op) {
  KILN_ASSIGN_OR_RETURN(FusedActivation act, parse_fused_activation(b.node));
  // The kernels keep no reference to the nodes they are built from, so these can be temporaries.
  ir::Node conv = b.node;
  conv.op_type = inner_op;
  conv.domain = "";
  std::erase_if(conv.attributes, [](const ir::Attribute& a) {
    return a.name == kActivationAttr || a.name == kActivationParamsAttr;
  });
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> conv_kernel, build_inner(conv));
  std::unique_ptr<Kernel> act_kernel;
  std::vector<float> clip_bounds;
  if (!act.op.empty()) {
    ir::Node a;
    a.op_type = act.op;
    a.name = b.node.name;
    if (act.op == "LeakyRelu") a.attributes.push_back(ir::Attribute::of_float("alpha", act.params[0]));
    if (act.op == "HardSigmoid") {
      a.attributes.push_back(ir::Attribute::of_float("alpha", act.params[0]));
      a.attributes.push_back(ir::Attribute::of_float("beta", act.params[1]));
    }
    if (act.op == "Clip") {
      clip_bounds = act.params;
    }
    KILN_ASSIGN_OR_RETURN(act_kernel, build_inner(a));
  }
  return std::unique_ptr<Kernel>(
      std::make_unique<FusedConvKernel>(std::move(conv_kernel), std::move(act_kernel), std::move(clip_bounds)));
}

Expected<std::unique_ptr<Kernel>> make_fused_conv(const KernelBuildContext& b) { return make_fused(b, "Conv"); }
Expected<std::unique_ptr<Kernel>> make_fused_conv_transpose(const KernelBuildContext& b) {
  return make_fused(b, "ConvTranspose");
}

}  // namespace

KILN_REGISTER_KERNEL("kiln", "FusedConv", 1, 1, make_fused_conv);
KILN_REGISTER_KERNEL("kiln", "FusedConvTranspose", 1, 1, make_fused_conv_transpose);

}  // namespace kiln::ref
