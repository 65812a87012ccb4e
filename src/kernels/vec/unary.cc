// Vectorized float32 kernels for the unary activations and math functions that CNNs and transformers
// spend their elementwise time in (Sigmoid and Mul are 40% of an EfficientNet run on the reference
// kernels, which call std::exp per element). Other data types go to the reference kernel.
#include <limits>

#include "kernels/vec/parallel_chunks.h"
#include "kernels/vec/reference_fallback.h"
#include "kernels/vec/unary_loops.h"

namespace kiln::vec {
namespace {

class VecUnaryKernel : public Kernel {
 public:
  // clip_bounds_from_inputs: Clip from opset 11 on, whose bounds are the optional inputs 1 and 2.
  VecUnaryKernel(std::unique_ptr<Kernel> reference, UnaryFn fn, bool clip_bounds_from_inputs = false)
      : reference_(std::move(reference)), fn_(fn), clip_bounds_from_inputs_(clip_bounds_from_inputs) {}

  const Kernel& reference() const { return *reference_; }

  Status run(KernelContext& ctx) const override {
    if (!is_float32_tensor(ctx, 0)) return reference_->run(ctx);
    UnaryFn fn = fn_;
    if (clip_bounds_from_inputs_ && (!read_bound(ctx, 1, &fn.alpha) || !read_bound(ctx, 2, &fn.beta))) {
      return reference_->run(ctx);  // a bound that is not a float32 scalar: the reference's error
    }
    const Tensor& x = ctx.tensor(0);
    Tensor y(DataType::kFloat32, x.shape(), Tensor::Init::kUninitialized);
    const float* in = x.data<float>();
    float* out = y.data<float>();
    for_each_chunk(x.size(), unary_parallel_grain(fn.op),
                   [&](int64_t begin, int64_t end) { unary_apply(fn, in + begin, out + begin, end - begin); });
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  // An absent bound leaves *bound (the unbounded default) as it is; false if the bound is unusual.
  static bool read_bound(const KernelContext& ctx, size_t i, float* bound) {
    if (!ctx.has_input(i)) return true;
    if (!is_float32_tensor(ctx, i) || ctx.tensor(i).size() != 1) return false;
    *bound = ctx.tensor(i).data<float>()[0];
    return true;
  }

  std::unique_ptr<Kernel> reference_;
  UnaryFn fn_;
  bool clip_bounds_from_inputs_;
};

// A factory for an operator whose parameters come from the node through `make_fn`.
template <typename MakeFn>
KernelFactory vec_unary(MakeFn make_fn) {
  return [make_fn](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
    return std::unique_ptr<Kernel>(std::make_unique<VecUnaryKernel>(std::move(reference), make_fn(b)));
  };
}

KernelFactory vec_unary(UnaryOp op) {
  return vec_unary([op](const KernelBuildContext&) { return UnaryFn{op}; });
}

constexpr float kInf = std::numeric_limits<float>::infinity();

// Clip's bounds: inputs from opset 11 on; before, attributes defaulting to +-FLT_MAX (opset 6..10) or
// to unbounded (opset 1..5), as the reference reads them.
Expected<std::unique_ptr<Kernel>> make_clip(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  UnaryFn fn{UnaryOp::kClip, -kInf, kInf};
  if (b.opset >= 11) return std::unique_ptr<Kernel>(std::make_unique<VecUnaryKernel>(std::move(reference), fn, true));
  if (b.opset >= 6) {
    fn.alpha = -std::numeric_limits<float>::max();
    fn.beta = std::numeric_limits<float>::max();
  }
  if (b.node.has_attr("min")) fn.alpha = b.node.attr_float("min", 0);
  if (b.node.has_attr("max")) fn.beta = b.node.attr_float("max", 0);
  return std::unique_ptr<Kernel>(std::make_unique<VecUnaryKernel>(std::move(reference), fn));
}

// Pow with a float32 scalar exponent of 2 is x * x (correctly rounded; the reference's powf is within
// an ulp of it); any other exponent, type or a broadcast that changes the shape goes to the reference.
class VecSquareKernel : public Kernel {
 public:
  explicit VecSquareKernel(std::unique_ptr<Kernel> reference) : square_(std::move(reference), {UnaryOp::kSquare}) {}

  Status run(KernelContext& ctx) const override {
    const bool square = is_float32_tensor(ctx, 0) && is_float32_tensor(ctx, 1) && ctx.tensor(1).size() == 1 &&
                        ctx.tensor(1).rank() <= ctx.tensor(0).rank() && ctx.tensor(1).data<float>()[0] == 2.0f;
    return square ? square_.run(ctx) : square_.reference().run(ctx);
  }

 private:
  VecUnaryKernel square_;  // reads only input 0
};

Expected<std::unique_ptr<Kernel>> make_pow(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  return std::unique_ptr<Kernel>(std::make_unique<VecSquareKernel>(std::move(reference)));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "Relu", 1, kMaxOpset, kVecPriority, vec_unary(UnaryOp::kRelu));
KILN_REGISTER_KERNEL_PRIORITY("", "Sigmoid", 1, kMaxOpset, kVecPriority, vec_unary(UnaryOp::kSigmoid));
KILN_REGISTER_KERNEL_PRIORITY("", "Tanh", 1, kMaxOpset, kVecPriority, vec_unary(UnaryOp::kTanh));
KILN_REGISTER_KERNEL_PRIORITY("", "Erf", 9, kMaxOpset, kVecPriority, vec_unary(UnaryOp::kErf));
KILN_REGISTER_KERNEL_PRIORITY("", "Exp", 1, kMaxOpset, kVecPriority, vec_unary(UnaryOp::kExp));
KILN_REGISTER_KERNEL_PRIORITY("", "Reciprocal", 1, kMaxOpset, kVecPriority, vec_unary(UnaryOp::kReciprocal));
KILN_REGISTER_KERNEL_PRIORITY("", "Neg", 1, kMaxOpset, kVecPriority, vec_unary(UnaryOp::kNeg));
KILN_REGISTER_KERNEL_PRIORITY("", "Abs", 1, kMaxOpset, kVecPriority, vec_unary(UnaryOp::kAbs));
KILN_REGISTER_KERNEL_PRIORITY("", "HardSwish", 14, kMaxOpset, kVecPriority, vec_unary(UnaryOp::kHardSwish));
KILN_REGISTER_KERNEL_PRIORITY("", "LeakyRelu", 1, kMaxOpset, kVecPriority, vec_unary([](const KernelBuildContext& b) {
                                return UnaryFn{UnaryOp::kLeakyRelu, b.node.attr_float("alpha", 0.01f)};
                              }));
KILN_REGISTER_KERNEL_PRIORITY(
    "", "HardSigmoid", 1, kMaxOpset, kVecPriority, vec_unary([](const KernelBuildContext& b) {
      return UnaryFn{UnaryOp::kHardSigmoid, b.node.attr_float("alpha", 0.2f), b.node.attr_float("beta", 0.5f)};
    }));
KILN_REGISTER_KERNEL_PRIORITY("", "Clip", 1, kMaxOpset, kVecPriority, make_clip);
KILN_REGISTER_KERNEL_PRIORITY("", "Pow", 7, kMaxOpset, kVecPriority, make_pow);
KILN_REGISTER_KERNEL_PRIORITY("kiln", "Swish", 1, 1, kVecPriority, vec_unary(UnaryOp::kSwish));

}  // namespace kiln::vec
