// Unary math: Abs Neg Sign, the rounding functions, exponentials and logarithms, trigonometric and
// hyperbolic functions, Erf, IsInf/IsNaN and Not. Opset 1..5 variants differ only by the ignored
// `consumed_inputs` attribute, so one kernel serves every opset; float16/bfloat16 compute in float.
#include <cmath>

#include "kernels/ref/elementwise.h"

namespace kiln::ref {
namespace {

// Output is bool: y = pred(x).
template <typename Types, typename Pred>
Status unary_predicate(KernelContext& ctx, Pred pred) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  const Tensor& x = ctx.tensor(0);
  return visit_type(Types{}, x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    ctx.set_output(0, unary_map<T, bool>(x, pred));
    return Status::OK();
  });
}

// Round half to even without depending on the floating-point rounding mode.
template <typename F>
F round_half_even(F x) {
  F r = std::floor(x);
  const F diff = x - r;
  if (diff > F(0.5) || (diff == F(0.5) && std::fmod(r, F(2)) != 0)) r += 1;
  return r;  // NaN and infinities pass through (floor keeps them; the comparisons are false)
}

template <typename V>
V abs_value(V x) {
  if constexpr (std::is_unsigned_v<V>) return x;
  else if constexpr (std::is_integral_v<V>) return x < 0 ? wrap_neg(x) : x;  // abs(INT_MIN) wraps
  else return std::fabs(x);
}

template <typename V>
V sign_value(V x) {
  if (x > V(0)) return V(1);
  if (x < V(0)) return V(-1);
  return x;  // 0 stays 0, NaN stays NaN
}

class IsInfKernel : public Kernel {
 public:
  IsInfKernel(bool positive, bool negative) : positive_(positive), negative_(negative) {}
  Status run(KernelContext& ctx) const override {
    return unary_predicate<FloatTypes>(ctx, [this](auto x) {
      return std::isinf(x) && ((x > 0 && positive_) || (x < 0 && negative_));
    });
  }

 private:
  bool positive_, negative_;
};

Expected<std::unique_ptr<Kernel>> make_isinf(const KernelBuildContext& b) {
  return std::unique_ptr<Kernel>(std::make_unique<IsInfKernel>(b.node.attr_int("detect_positive", 1) != 0,
                                                              b.node.attr_int("detect_negative", 1) != 0));
}

Status is_nan(KernelContext& ctx) {
  return unary_predicate<FloatTypes>(ctx, [](auto x) { return std::isnan(x); });
}

Status logical_not(KernelContext& ctx) {
  return unary_predicate<TypeList<bool>>(ctx, [](bool x) { return !x; });
}

}  // namespace

KILN_REGISTER_KERNEL("", "Abs", 1, kMaxOpset, unary<NumericTypes>([](auto x) { return abs_value(x); }));
KILN_REGISTER_KERNEL("", "Neg", 1, kMaxOpset, unary<SignedNumericTypes>([](auto x) { return wrap_neg(x); }));
KILN_REGISTER_KERNEL("", "Sign", 9, kMaxOpset, unary<NumericTypes>([](auto x) { return sign_value(x); }));

KILN_REGISTER_KERNEL("", "Ceil", 1, kMaxOpset, unary<FloatTypes>([](auto x) { return std::ceil(x); }));
KILN_REGISTER_KERNEL("", "Floor", 1, kMaxOpset, unary<FloatTypes>([](auto x) { return std::floor(x); }));
KILN_REGISTER_KERNEL("", "Round", 11, kMaxOpset, unary<FloatTypes>([](auto x) { return round_half_even(x); }));

KILN_REGISTER_KERNEL("", "Exp", 1, kMaxOpset, unary<FloatTypes>([](auto x) { return std::exp(x); }));
KILN_REGISTER_KERNEL("", "Log", 1, kMaxOpset, unary<FloatTypes>([](auto x) { return std::log(x); }));
KILN_REGISTER_KERNEL("", "Sqrt", 1, kMaxOpset, unary<FloatTypes>([](auto x) { return std::sqrt(x); }));
KILN_REGISTER_KERNEL("", "Reciprocal", 1, kMaxOpset,
                     unary<FloatTypes>([](auto x) { return decltype(x)(1) / x; }));

KILN_REGISTER_KERNEL("", "Sin", 7, kMaxOpset, unary<FloatTypes>([](auto x) { return std::sin(x); }));
KILN_REGISTER_KERNEL("", "Cos", 7, kMaxOpset, unary<FloatTypes>([](auto x) { return std::cos(x); }));
KILN_REGISTER_KERNEL("", "Tan", 7, kMaxOpset, unary<FloatTypes>([](auto x) { return std::tan(x); }));
KILN_REGISTER_KERNEL("", "Asin", 7, kMaxOpset, unary<FloatTypes>([](auto x) { return std::asin(x); }));
KILN_REGISTER_KERNEL("", "Acos", 7, kMaxOpset, unary<FloatTypes>([](auto x) { return std::acos(x); }));
KILN_REGISTER_KERNEL("", "Atan", 7, kMaxOpset, unary<FloatTypes>([](auto x) { return std::atan(x); }));
KILN_REGISTER_KERNEL("", "Sinh", 9, kMaxOpset, unary<FloatTypes>([](auto x) { return std::sinh(x); }));
KILN_REGISTER_KERNEL("", "Cosh", 9, kMaxOpset, unary<FloatTypes>([](auto x) { return std::cosh(x); }));
KILN_REGISTER_KERNEL("", "Tanh", 1, kMaxOpset, unary<FloatTypes>([](auto x) { return std::tanh(x); }));
KILN_REGISTER_KERNEL("", "Asinh", 9, kMaxOpset, unary<FloatTypes>([](auto x) { return std::asinh(x); }));
KILN_REGISTER_KERNEL("", "Acosh", 9, kMaxOpset, unary<FloatTypes>([](auto x) { return std::acosh(x); }));
KILN_REGISTER_KERNEL("", "Atanh", 9, kMaxOpset, unary<FloatTypes>([](auto x) { return std::atanh(x); }));

// Erf accepts integers too; erf of an integer is in [-1, 1] and truncates back like numpy's astype.
KILN_REGISTER_KERNEL("", "Erf", 9, kMaxOpset, unary<NumericTypes>([](auto x) {
                       using V = decltype(x);
                       if constexpr (std::is_integral_v<V>) return static_cast<V>(std::erf(static_cast<double>(x)));
                       else return std::erf(x);
                     }));

KILN_REGISTER_KERNEL("", "IsNaN", 9, kMaxOpset, stateless(is_nan));
KILN_REGISTER_KERNEL("", "IsInf", 10, kMaxOpset, make_isinf);
KILN_REGISTER_KERNEL("", "Not", 1, kMaxOpset, stateless(logical_not));

}  // namespace kiln::ref
