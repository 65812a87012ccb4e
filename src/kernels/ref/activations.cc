// Activation functions: Relu Sigmoid Softplus Softsign Elu Selu Celu LeakyRelu HardSigmoid HardSwish
// ThresholdedRelu Shrink PRelu. Attributes are read once in the factory; opset 1..5 variants differ
// only by the ignored `consumed_inputs` attribute, except Selu (other defaults) and PRelu (per-channel
// slope before opset 7).
#include <cmath>

#include "kernels/ref/elementwise.h"

namespace kiln::ref {
namespace {

template <typename V>
V relu(V x) {
  return x < V(0) ? V(0) : x;  // NaN passes through
}

// Clamps to [0, 1]; NaN passes through (as numpy's clip does).
template <typename V>
V clamp01(V x) {
  return x < V(0) ? V(0) : (x > V(1) ? V(1) : x);
}

// Numerically stable logistic: never evaluates exp of a large positive number.
template <typename V>
V sigmoid(V x) {
  if (x >= V(0)) return V(1) / (V(1) + std::exp(-x));
  const V e = std::exp(x);
  return e / (V(1) + e);
}

// log(1 + exp(x)) without overflow for large x.
template <typename V>
V softplus(V x) {
  if (x > V(0)) return x + std::log1p(std::exp(-x));
  return std::log1p(std::exp(x));
}

Expected<std::unique_ptr<Kernel>> make_elu(const KernelBuildContext& b) {
  const float alpha = b.node.attr_float("alpha", 1.0f);
  return make_unary<FloatTypes>([alpha](auto x) {
    using V = decltype(x);
    return x >= V(0) ? x : V(alpha) * std::expm1(x);
  });
}

Expected<std::unique_ptr<Kernel>> make_selu(const KernelBuildContext& b) {
  // Opset 1 declared rounded defaults; opset 6 the exact constants of the SELU paper.
  const bool v1 = b.opset < 6;
  const float alpha = b.node.attr_float("alpha", v1 ? 1.6732f : 1.67326319217681884765625f);
  const float gamma = b.node.attr_float("gamma", v1 ? 1.0507f : 1.05070102214813232421875f);
  return make_unary<FloatTypes>([alpha, gamma](auto x) {
    using V = decltype(x);
    return x > V(0) ? V(gamma) * x : V(gamma) * (V(alpha) * std::exp(x) - V(alpha));
  });
}

Expected<std::unique_ptr<Kernel>> make_celu(const KernelBuildContext& b) {
  const float alpha = b.node.attr_float("alpha", 1.0f);
  if (alpha == 0) return Status::InvalidArgument("Celu alpha must not be 0");
  return make_unary<FloatTypes>([alpha](auto x) {
    using V = decltype(x);
    return x > V(0) ? x : V(alpha) * std::expm1(x / V(alpha));
  });
}

Expected<std::unique_ptr<Kernel>> make_leaky_relu(const KernelBuildContext& b) {
  const float alpha = b.node.attr_float("alpha", 0.01f);
  return make_unary<FloatTypes>([alpha](auto x) {
    using V = decltype(x);
    return x >= V(0) ? x : V(alpha) * x;
  });
}

Expected<std::unique_ptr<Kernel>> make_hard_sigmoid(const KernelBuildContext& b) {
  const float alpha = b.node.attr_float("alpha", 0.2f);
  const float beta = b.node.attr_float("beta", 0.5f);
  return make_unary<FloatTypes>([alpha, beta](auto x) {
    using V = decltype(x);
    return clamp01(V(alpha) * x + V(beta));
  });
}

Expected<std::unique_ptr<Kernel>> make_thresholded_relu(const KernelBuildContext& b) {
  const float alpha = b.node.attr_float("alpha", 1.0f);
  return make_unary<FloatTypes>([alpha](auto x) {
    using V = decltype(x);
    return x > V(alpha) ? x : V(0);
  });
}

// Shrink accepts integers; it computes in double and converts back like numpy's astype.
Expected<std::unique_ptr<Kernel>> make_shrink(const KernelBuildContext& b) {
  const double lambd = b.node.attr_float("lambd", 0.5f);
  const double bias = b.node.attr_float("bias", 0.0f);
  return make_unary<NumericTypes>([lambd, bias](auto x) {
    using V = decltype(x);
    const double d = static_cast<double>(x);
    const double y = d < -lambd ? d + bias : (d > lambd ? d - bias : 0.0);
    if constexpr (std::is_integral_v<V>) return float_to_int<V>(y);
    else return static_cast<V>(y);
  });
}

// PRelu: y = x < 0 ? slope * x : x, with slope broadcast onto x. Before opset 7 a 1-D slope of x's
// channel count (dimension 1) applies per channel, as in Caffe.
class PReluKernel : public Kernel {
 public:
  explicit PReluKernel(bool legacy) : legacy_(legacy) {}
  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_same_types(ctx, 2));
    const Tensor& x = ctx.tensor(0);
    Shape slope_shape = ctx.tensor(1).shape();
    if (legacy_ && slope_shape.size() == 1 && x.rank() >= 2 && slope_shape[0] == x.dim(1) && x.dim(1) != 1) {
      slope_shape.resize(static_cast<size_t>(x.rank() - 1), 1);  // [C] -> [C, 1, ..., 1]
    }
    const Tensor slope = ctx.tensor(1).reshaped(slope_shape);
    KILN_ASSIGN_OR_RETURN(BroadcastLoop loop, BroadcastLoop::make_onto(x.shape(), {x.shape(), slope.shape()}));
    return visit_type(NumericTypes{}, x.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      KILN_ASSIGN_OR_RETURN(Tensor out, (binary_map<T, T, T>(loop, x, slope, [](auto v, auto s) {
                              using V = decltype(v);
                              return v < V(0) ? wrap_mul(s, v) : v;
                            })));
      ctx.set_output(0, Value(std::move(out)));
      return Status::OK();
    });
  }

 private:
  bool legacy_;
};

Expected<std::unique_ptr<Kernel>> make_prelu(const KernelBuildContext& b) {
  return std::unique_ptr<Kernel>(std::make_unique<PReluKernel>(b.opset < 7));
}

}  // namespace

KILN_REGISTER_KERNEL("", "Relu", 1, kMaxOpset, unary<SignedNumericTypes>([](auto x) { return relu(x); }));
KILN_REGISTER_KERNEL("", "Sigmoid", 1, kMaxOpset, unary<FloatTypes>([](auto x) { return sigmoid(x); }));
KILN_REGISTER_KERNEL("", "Softplus", 1, kMaxOpset, unary<FloatTypes>([](auto x) { return softplus(x); }));
KILN_REGISTER_KERNEL("", "Softsign", 1, kMaxOpset,
                     unary<FloatTypes>([](auto x) { return x / (decltype(x)(1) + std::fabs(x)); }));
KILN_REGISTER_KERNEL("", "HardSwish", 14, kMaxOpset, unary<FloatTypes>([](auto x) {
                       using V = decltype(x);
                       return x * clamp01(x / V(6) + V(0.5));
                     }));
KILN_REGISTER_KERNEL("", "Elu", 1, kMaxOpset, make_elu);
KILN_REGISTER_KERNEL("", "Selu", 1, kMaxOpset, make_selu);
KILN_REGISTER_KERNEL("", "Celu", 12, kMaxOpset, make_celu);
KILN_REGISTER_KERNEL("", "LeakyRelu", 1, kMaxOpset, make_leaky_relu);
KILN_REGISTER_KERNEL("", "HardSigmoid", 1, kMaxOpset, make_hard_sigmoid);
KILN_REGISTER_KERNEL("", "ThresholdedRelu", 10, kMaxOpset, make_thresholded_relu);
KILN_REGISTER_KERNEL("", "Shrink", 9, kMaxOpset, make_shrink);
KILN_REGISTER_KERNEL("", "PRelu", 1, kMaxOpset, make_prelu);
// kiln.Swish (opt/fuse_swish.cc): x * Sigmoid(x), as the two nodes it replaces compute it.
KILN_REGISTER_KERNEL("kiln", "Swish", 1, 1, unary<FloatTypes>([](auto x) { return x * sigmoid(x); }));

}  // namespace kiln::ref
