#include "kernels/ref/fused_activation_ref.h"

#include <cmath>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

// The opset the inner node is built at: every fusable activation exists there with today's semantics.
constexpr int64_t kInnerOpset = 14;

Status gelu_in_place(Tensor& t) {
  return visit_type(FloatTypes{}, t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = ComputeType<T>;
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.size(); ++i) {
      const C v = static_cast<C>(p[i]);
      p[i] = static_cast<T>(static_cast<C>(0.5) * v * (static_cast<C>(1) + std::erf(v * static_cast<C>(M_SQRT1_2))));
    }
    return Status::OK();
  });
}

}  // namespace

Expected<FusedActivationReference> FusedActivationReference::make(const FusedActivation& act,
                                                                  const std::string& node_name) {
  FusedActivationReference r;
  if (act.op.empty()) return r;
  if (act.op == "Gelu") {
    r.gelu_ = true;
    return r;
  }
  ir::Node a;
  a.op_type = act.op;
  a.name = node_name;
  if (act.op == "LeakyRelu") a.attributes.push_back(ir::Attribute::of_float("alpha", act.params[0]));
  if (act.op == "HardSigmoid") {
    a.attributes.push_back(ir::Attribute::of_float("alpha", act.params[0]));
    a.attributes.push_back(ir::Attribute::of_float("beta", act.params[1]));
  }
  if (act.op == "Clip") r.clip_bounds_ = act.params;
  const KernelRegistration* reg = KernelRegistry::global().find_below("", act.op, kInnerOpset, 1);
  if (reg == nullptr) return Status::Unimplemented("no reference kernel for activation " + act.op);
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> k, reg->factory(KernelBuildContext{a, kInnerOpset, nullptr}));
  r.kernel_ = std::move(k);
  return r;
}

Expected<Value> FusedActivationReference::apply(Value x, const Frame* frame) const {
  if (gelu_) {
    if (!x.is_tensor()) return Status::InvalidArgument("Gelu needs a tensor");
    // A fresh tensor: x may share its storage with a value someone else still reads.
    Tensor y = x.tensor().clone();
    KILN_RETURN_IF_ERROR(gelu_in_place(y));
    return Value(std::move(y));
  }
  if (!kernel_) return x;
  std::vector<const Value*> in{&x};
  // Clip's min and max, as scalars of the input's type (made per run: this is the reference path).
  std::vector<Value> bounds;
  if (!clip_bounds_.empty() && x.is_tensor()) {
    KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, x.tensor().dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (float v : clip_bounds_) bounds.emplace_back(Tensor::scalar<T>(convert_element<T>(v)));
      return Status::OK();
    }));
  }
  for (const Value& v : bounds) in.push_back(&v);
  std::vector<Value> out(1);
  KernelContext ctx(in, &out, frame);
  KILN_RETURN_IF_ERROR(kernel_->run(ctx));
  return std::move(out[0]);
}

}  // namespace kiln::ref
