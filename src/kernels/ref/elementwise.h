// Shared machinery of the elementwise reference kernels: a broadcasting loop over any number of inputs
// that coalesces dimensions (so same-shape and scalar operands run as one flat loop), unary and binary
// element maps on top of it, the legacy (opset < 7) `broadcast`/`axis` rule of binary operators, and
// overflow-safe integer arithmetic (signed overflow wraps like numpy instead of being undefined).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/ref/common.h"

namespace kiln::ref {

// ---------------------------------------------------------------------------------------------------
// Broadcast loop

// An output shape and N inputs broadcast onto it, with adjacent dimensions merged wherever every input
// either spans both or is broadcast along both. The innermost merged dimension becomes the "row".
class BroadcastLoop {
 public:
  // Broadcasts `inputs` together (numpy rules); the error names the shapes.
  static Expected<BroadcastLoop> make(const std::vector<Shape>& inputs);
  // Like make(), but the result must be `target` (unidirectional broadcast of every input onto it).
  static Expected<BroadcastLoop> make_onto(const Shape& target, const std::vector<Shape>& inputs);

  const Shape& out_shape() const { return out_shape_; }
  int64_t out_size() const { return out_size_; }

  // Calls row(out_offset, in_offsets, in_steps, count) for every row: output elements
  // [out_offset, out_offset + count) read input k at in_offsets[k] + j * in_steps[k] (steps are 0 or 1).
  template <typename Row>
  void for_each_row(Row&& row) const {
    if (out_size_ == 0) return;
    const size_t n = in_strides_.size();
    const size_t rank = dims_.size();
    std::vector<int64_t> offsets(n, 0), steps(n, 0), index(rank, 0);
    const int64_t row_len = rank == 0 ? 1 : dims_[rank - 1];
    for (size_t k = 0; k < n; ++k) steps[k] = rank == 0 ? 0 : in_strides_[k][rank - 1];
    int64_t out = 0;
    while (true) {
      row(out, offsets.data(), steps.data(), row_len);
      out += row_len;
      // Advance the odometer over the outer (non-row) dimensions.
      size_t d = rank == 0 ? 0 : rank - 1;
      while (d > 0) {
        --d;
        ++index[d];
        for (size_t k = 0; k < n; ++k) offsets[k] += in_strides_[k][d];
        if (index[d] < dims_[d]) break;
        for (size_t k = 0; k < n; ++k) offsets[k] -= in_strides_[k][d] * index[d];
        index[d] = 0;
        if (d == 0) return;
      }
      if (rank <= 1) return;
    }
  }

 private:
  void coalesce(const std::vector<Shape>& inputs);

  Shape out_shape_;
  int64_t out_size_ = 0;
  Shape dims_;                                  // merged output dimensions
  std::vector<std::vector<int64_t>> in_strides_;  // per input, per merged dimension (0 = broadcast)
};

// ---------------------------------------------------------------------------------------------------
// Legacy broadcasting of binary operators (opset < 7)

// Opset < 7 binary operators broadcast only B onto A, only when `broadcast` is 1, and only where B's
// shape is a contiguous run of A's shape (1s allowed) starting at `axis` (suffix by default) or B has
// one element.
struct LegacyBroadcast {
  bool active = false;  // the model's opset is < 7
  bool broadcast = false;
  bool has_axis = false;
  int64_t axis = 0;

  static LegacyBroadcast from(const KernelBuildContext& b) {
    LegacyBroadcast l;
    l.active = b.opset < 7;
    l.broadcast = b.node.attr_int("broadcast", 0) != 0;
    l.has_axis = b.node.has_attr("axis");
    l.axis = b.node.attr_int("axis", 0);
    return l;
  }

  // The shape to view B with so that numpy broadcasting gives the legacy result; B unchanged when not
  // active.
  Expected<Shape> align_b(const Shape& a, const Shape& b) const;
};

// The loop for A op B under numpy rules, or under the legacy rule when it is active; `b_view` receives
// B viewed with the shape the loop expects.
Expected<BroadcastLoop> prepare_binary(const Tensor& a, const Tensor& b, const LegacyBroadcast& legacy,
                                       Tensor* b_view);

// ---------------------------------------------------------------------------------------------------
// Element conversions and integer arithmetic

template <typename T>
inline constexpr bool is_small_float_v = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

// Float (or double) to integer as numpy does on x86, but defined for every input: in-range values
// truncate toward zero and wrap to narrower types; NaN and values outside int64 give the int64 minimum
// wrapped to the target (so 0 for narrower types).
template <typename To, typename F>
To float_to_int(F v) {
  const double d = static_cast<double>(v);
  if constexpr (std::is_same_v<To, uint64_t>) {
    if (d >= 9223372036854775808.0 && d < 18446744073709551616.0) return static_cast<uint64_t>(d);
  }
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
    return static_cast<To>(std::numeric_limits<int64_t>::min());
  }
  return static_cast<To>(static_cast<int64_t>(d));
}

// Converts one element between any two numeric/bool types (no strings), with defined float->int.
template <typename To, typename From>
To convert_value(const From& v) {
  if constexpr (std::is_integral_v<To> && !std::is_same_v<To, bool> &&
                (std::is_floating_point_v<From> || is_small_float_v<From>)) {
    return float_to_int<To>(static_cast<ComputeType<From>>(v));
  } else {
    return convert_element<To, From>(v);
  }
}

// Integer arithmetic modulo 2^bits: signed overflow wraps instead of being undefined behaviour.
template <typename T>
T wrap_add(T a, T b) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else return a + b;
}
template <typename T>
T wrap_sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
  else return a - b;
}
template <typename T>
T wrap_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else return a * b;
}
template <typename T>
T wrap_neg(T a) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(a));
  else return -a;
}

// Checks that inputs [0, count) are present tensors of one data type.
Status require_same_types(const KernelContext& ctx, size_t count);

// ---------------------------------------------------------------------------------------------------
// Element maps

// out = f(in) elementwise; f takes and returns compute types (float for the 16-bit floats).
template <typename In, typename Out, typename F>
Tensor unary_map(const Tensor& in, F&& f) {
  Tensor out(data_type_of<Out>, in.shape());
  const In* x = in.data<In>();
  Out* y = out.data<Out>();
  const int64_t n = in.size();
  for (int64_t i = 0; i < n; ++i) y[i] = Out(f(static_cast<ComputeType<In>>(x[i])));
  return out;
}

// out = f(a, b) with broadcasting; f takes compute types of A and B and returns something Out is
// constructible from. Strings pass by reference. Fails only when the broadcast output is too large.
template <typename A, typename B, typename Out, typename F>
Expected<Tensor> binary_map(const BroadcastLoop& loop, const Tensor& a, const Tensor& b, F&& f) {
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::make(data_type_of<Out>, loop.out_shape()));
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  Out* po = out.data<Out>();
  using CA = ComputeType<A>;
  using CB = ComputeType<B>;
  loop.for_each_row([&](int64_t o, const int64_t* off, const int64_t* step, int64_t n) {
    const A* ra = pa + off[0];
    const B* rb = pb + off[1];
    Out* ro = po + o;
    if (step[0] == 1 && step[1] == 1) {
      for (int64_t j = 0; j < n; ++j) ro[j] = Out(f(static_cast<const CA&>(ra[j]), static_cast<const CB&>(rb[j])));
    } else if (step[0] == 0 && step[1] == 1) {
      const CA va = static_cast<CA>(ra[0]);
      for (int64_t j = 0; j < n; ++j) ro[j] = Out(f(va, static_cast<const CB&>(rb[j])));
    } else if (step[0] == 1 && step[1] == 0) {
      const CB vb = static_cast<CB>(rb[0]);
      for (int64_t j = 0; j < n; ++j) ro[j] = Out(f(static_cast<const CA&>(ra[j]), vb));
    } else {
      const Out v = Out(f(static_cast<CA>(ra[0]), static_cast<CB>(rb[0])));
      for (int64_t j = 0; j < n; ++j) ro[j] = v;
    }
  });
  return out;
}

// A kernel computing y = op(x) with y of x's type, for x of any type in `Types`. `op` holds the
// node's parsed attributes and is called with compute types (float for the 16-bit floats).
template <typename Types, typename Op>
class UnaryKernel : public Kernel {
 public:
  explicit UnaryKernel(Op op) : op_(std::move(op)) {}
  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    return visit_type(Types{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      ctx.set_output(0, unary_map<T, T>(x, op_));
      return Status::OK();
    });
  }

 private:
  Op op_;
};

template <typename Types, typename Op>
Expected<std::unique_ptr<Kernel>> make_unary(Op op) {
  return std::unique_ptr<Kernel>(std::make_unique<UnaryKernel<Types, Op>>(std::move(op)));
}

// A factory for a unary kernel whose op needs nothing from the node.
template <typename Types, typename Op>
KernelFactory unary(Op op) {
  return [op](const KernelBuildContext&) { return make_unary<Types>(op); };
}

// A kernel computing y = op(a, b) for a and b of one type in `Types`, broadcast (with the legacy rule
// for opset < 7); y has their type, or bool when kBoolOut. If `op` has a `check<T>(const Tensor& b)`
// member it vets B first (integer division by zero).
template <typename Types, bool kBoolOut, typename Op>
class BinaryKernel : public Kernel {
 public:
  BinaryKernel(LegacyBroadcast legacy, Op op) : legacy_(legacy), op_(std::move(op)) {}
  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_same_types(ctx, 2));
    const Tensor& a = ctx.tensor(0);
    Tensor b;
    KILN_ASSIGN_OR_RETURN(BroadcastLoop loop, prepare_binary(a, ctx.tensor(1), legacy_, &b));
    return visit_type(Types{}, a.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      if constexpr (requires { op_.template check<T>(b); }) KILN_RETURN_IF_ERROR(op_.template check<T>(b));
      using Out = std::conditional_t<kBoolOut, bool, T>;
      KILN_ASSIGN_OR_RETURN(Tensor out, (binary_map<T, T, Out>(loop, a, b, op_)));
      ctx.set_output(0, Value(std::move(out)));
      return Status::OK();
    });
  }

 private:
  LegacyBroadcast legacy_;
  Op op_;
};

// A factory for a binary kernel whose op needs nothing from the node but the legacy attributes.
template <typename Types, bool kBoolOut = false, typename Op>
KernelFactory binary(Op op) {
  return [op](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    return std::unique_ptr<Kernel>(std::make_unique<BinaryKernel<Types, kBoolOut, Op>>(LegacyBroadcast::from(b), op));
  };
}


}  // namespace kiln::ref
