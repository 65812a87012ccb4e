// Binary arithmetic: Add Sub Mul Div Pow Mod BitShift, numpy-broadcast (opset >= 7) or with the legacy
// broadcast/axis attributes (opset < 7). Integer arithmetic wraps like numpy; integer division and
// modulo by zero are rejected instead of trapping, and INT_MIN / -1 wraps.
#include <cmath>

#include "kernels/ref/elementwise.h"

namespace kiln::ref {
namespace {

// Fails when an integer divisor holds a zero (which would trap).
template <typename T>
Status check_integer_divisor(const Tensor& b) {
  if constexpr (std::is_integral_v<T>) {
    const T* p = b.data<T>();
    for (int64_t i = 0; i < b.size(); ++i) {
      if (p[i] == 0) return Status::InvalidArgument("integer division by zero");
    }
  }
  return Status::OK();
}

struct DivOp {
  template <typename T>
  Status check(const Tensor& b) const {
    return check_integer_divisor<T>(b);
  }
  template <typename V>
  V operator()(V a, V b) const {
    if constexpr (std::is_integral_v<V> && std::is_signed_v<V>) {
      if (b == V(-1)) return wrap_neg(a);  // INT_MIN / -1 overflows
      return static_cast<V>(a / b);        // C++ truncates toward zero, as ONNX specifies
    } else {
      return a / b;
    }
  }
};

// Mod: fmod=1 takes the dividend's sign (C fmod / %); fmod=0 the divisor's (Python's %).
struct ModOp {
  bool fmod = false;
  template <typename T>
  Status check(const Tensor& b) const {
    return check_integer_divisor<T>(b);
  }
  template <typename V>
  V operator()(V a, V b) const {
    if constexpr (std::is_integral_v<V>) {
      if constexpr (std::is_signed_v<V>) {
        if (b == V(-1)) return V(0);  // INT_MIN % -1 overflows
      }
      V r = static_cast<V>(a % b);
      if constexpr (std::is_signed_v<V>) {
        if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<V>(r + b);
      }
      return r;
    } else {
      V r = std::fmod(a, b);
      if (!fmod && !std::isnan(r)) {
        if (r != 0) {
          if ((r < 0) != (b < 0)) r += b;
        } else {
          r = std::copysign(V(0), b);  // numpy gives zero the divisor's sign
        }
      }
      return r;
    }
  }
};

Expected<std::unique_ptr<Kernel>> make_mod(const KernelBuildContext& b) {
  const int64_t fmod = b.node.attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) return Status::InvalidArgument("Mod fmod must be 0 or 1, got " + std::to_string(fmod));
  return std::unique_ptr<Kernel>(
      std::make_unique<BinaryKernel<NumericTypes, false, ModOp>>(LegacyBroadcast::from(b), ModOp{fmod == 1}));
}

struct BitShiftOp {
  bool left = true;
  template <typename V>
  V operator()(V a, V b) const {
    // Shifting by the bit width or more is undefined in C++; every bit is shifted out, so 0.
    if (b >= V(sizeof(V) * 8)) return V(0);
    const uint64_t wide = static_cast<uint64_t>(a);
    return static_cast<V>(left ? wide << b : wide >> b);
  }
};

Expected<std::unique_ptr<Kernel>> make_bitshift(const KernelBuildContext& b) {
  const std::string direction = b.node.attr_string("direction");
  if (direction != "LEFT" && direction != "RIGHT") {
    return Status::InvalidArgument("BitShift direction must be LEFT or RIGHT, got '" + direction + "'");
  }
  return std::unique_ptr<Kernel>(std::make_unique<BinaryKernel<UnsignedIntTypes, false, BitShiftOp>>(
      LegacyBroadcast::from(b), BitShiftOp{direction == "LEFT"}));
}

// Integer power by squaring, wrapping like numpy. A negative exponent gives the truncated true value:
// 1 for base 1, +-1 for base -1, 0 otherwise.
template <typename X, typename Y>
X int_pow(X base, Y exp) {
  if constexpr (std::is_signed_v<Y>) {
    if (exp < 0) {
      if (base == X(1)) return X(1);
      if constexpr (std::is_signed_v<X>) {
        if (base == X(-1)) return (exp % 2 == 0) ? X(1) : X(-1);
      }
      return X(0);
    }
  }
  uint64_t result = 1;
  uint64_t b = static_cast<uint64_t>(base);
  auto e = static_cast<uint64_t>(exp);
  while (e != 0) {
    if (e & 1u) result *= b;
    b *= b;
    e >>= 1;
  }
  return static_cast<X>(result);
}

// Pow: the result has the base's type. Same-type floats compute in their own precision (powf for
// float, as numpy does); mixed types compute in double and convert, truncating toward zero for an
// integer base.
template <typename X, typename Y>
auto pow_value(X x, Y y) {
  if constexpr (std::is_integral_v<X> && std::is_integral_v<Y>) {
    return int_pow(x, y);
  } else if constexpr (std::is_same_v<X, Y>) {
    return std::pow(x, y);
  } else {
    const double r = std::pow(static_cast<double>(x), static_cast<double>(y));
    if constexpr (std::is_integral_v<X>) return float_to_int<X>(r);
    else return static_cast<X>(r);
  }
}

class PowKernel : public Kernel {
 public:
  explicit PowKernel(LegacyBroadcast legacy) : legacy_(legacy) {}
  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& a = ctx.tensor(0);
    Tensor b;
    KILN_ASSIGN_OR_RETURN(BroadcastLoop loop, prepare_binary(a, ctx.tensor(1), legacy_, &b));
    return visit_type(NumericTypes{}, a.dtype(), [&](auto base_tag) {
      using X = typename decltype(base_tag)::type;
      return visit_type(NumericTypes{}, b.dtype(), [&](auto exp_tag) -> Status {
        using Y = typename decltype(exp_tag)::type;
        KILN_ASSIGN_OR_RETURN(Tensor out,
                              (binary_map<X, Y, X>(loop, a, b, [](auto x, auto y) { return pow_value(x, y); })));
        ctx.set_output(0, Value(std::move(out)));
        return Status::OK();
      });
    });
  }

 private:
  LegacyBroadcast legacy_;
};

Expected<std::unique_ptr<Kernel>> make_pow(const KernelBuildContext& b) {
  return std::unique_ptr<Kernel>(std::make_unique<PowKernel>(LegacyBroadcast::from(b)));
}

}  // namespace

KILN_REGISTER_KERNEL("", "Add", 1, kMaxOpset, binary<NumericTypes>([](auto a, auto b) { return wrap_add(a, b); }));
KILN_REGISTER_KERNEL("", "Sub", 1, kMaxOpset, binary<NumericTypes>([](auto a, auto b) { return wrap_sub(a, b); }));
KILN_REGISTER_KERNEL("", "Mul", 1, kMaxOpset, binary<NumericTypes>([](auto a, auto b) { return wrap_mul(a, b); }));
KILN_REGISTER_KERNEL("", "Div", 1, kMaxOpset, binary<NumericTypes>(DivOp{}));
KILN_REGISTER_KERNEL("", "Mod", 10, kMaxOpset, make_mod);
KILN_REGISTER_KERNEL("", "BitShift", 11, kMaxOpset, make_bitshift);
KILN_REGISTER_KERNEL("", "Pow", 1, kMaxOpset, make_pow);

}  // namespace kiln::ref
