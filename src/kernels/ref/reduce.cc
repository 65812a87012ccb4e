// The Reduce* family: ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMin ReduceMean
// ReduceProd ReduceSum ReduceSumSquare.
//
// Up to opset 17 every op but ReduceSum takes `axes` as an attribute; ReduceSum-13 takes it as an
// optional second input and adds `noop_with_empty_axes`. Empty axes mean "reduce everything" (unless
// noop_with_empty_axes). Reducing over zero elements yields the identity of the operation: 0 for the
// sums, 1 for the product, -inf / +inf (the integer type's lowest / max) for max / min, -inf for the
// logarithmic sums and NaN for the mean.
#include <cmath>
#include <limits>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

enum class ReduceOp { kL1, kL2, kLogSum, kLogSumExp, kMax, kMin, kMean, kProd, kSum, kSumSquare };

// Accumulator type: double for the floating types (more accurate than numpy's float32 and exact for
// float16), 64-bit integers of the same signedness for the integer types, so integer sums wrap the way
// numpy's do after the final narrowing.
template <typename T>
using AccType = std::conditional_t<std::is_floating_point_v<ComputeType<T>>, double,
                                   std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

// Converts a finished accumulator to the element type; non-finite values become 0 for integer types
// (casting them would be undefined behaviour).
template <typename T, typename A>
T narrow(A v) {
  if constexpr (std::is_floating_point_v<ComputeType<T>>) {
    return T(static_cast<ComputeType<T>>(v));
  } else {
    if constexpr (std::is_floating_point_v<A>) {
      if (!std::isfinite(v)) return T(0);
    }
    return static_cast<T>(v);
  }
}

// Shape of the output with reduced dims kept as 1, and which dims are reduced.
struct ReducePlan {
  Shape keep_shape;
  Shape out_shape;
  int64_t group_size = 1;  // input elements per output element
};

template <typename T>
Status reduce_typed(ReduceOp op, const Tensor& x, const ReducePlan& plan, Tensor* out_tensor) {
  using A = AccType<T>;
  using C = ComputeType<T>;
  const T* in = x.data<T>();
  const int64_t n_out = shape_size(plan.keep_shape);
  const int64_t n_in = x.size();
  // make(), not the constructor: reducing an empty axis can ask for more output than the input holds.
  KILN_ASSIGN_OR_RETURN(Tensor result, Tensor::make(data_type_of<T>, plan.out_shape));
  T* out = result.data<T>();

  // Visits every input element with the offset of the output element it reduces into.
  auto for_each = [&](auto&& fn) {
    BroadcastIterator it(x.shape(), {plan.keep_shape});
    for (int64_t i = 0; i < n_in; ++i, it.next()) fn(static_cast<C>(in[i]), it.offset(0));
  };

  if (op == ReduceOp::kMax || op == ReduceOp::kMin) {
    const bool is_max = op == ReduceOp::kMax;
    C init;
    if constexpr (std::numeric_limits<C>::has_infinity) {
      init = is_max ? -std::numeric_limits<C>::infinity() : std::numeric_limits<C>::infinity();
    } else {
      init = is_max ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max();
    }
    std::vector<C> acc(static_cast<size_t>(n_out), init);
    for_each([&](C v, int64_t o) {
      C& a = acc[static_cast<size_t>(o)];
      if constexpr (std::is_floating_point_v<C>) {
        if (std::isnan(v) || std::isnan(a)) {  // NaN propagates, as in numpy
          a = std::numeric_limits<C>::quiet_NaN();
          return;
        }
      }
      if (is_max ? v > a : v < a) a = v;
    });
    for (int64_t i = 0; i < n_out; ++i) out[i] = T(acc[static_cast<size_t>(i)]);
    *out_tensor = std::move(result);
    return Status::OK();
  }

  if (op == ReduceOp::kLogSumExp) {
    // log(sum(exp(x))) = m + log(sum(exp(x - m))) with m the group's max, so large inputs do not
    // overflow. Computed in double for every type.
    std::vector<double> mx(static_cast<size_t>(n_out), -std::numeric_limits<double>::infinity());
    for_each([&](C v, int64_t o) {
      double& m = mx[static_cast<size_t>(o)];
      m = std::max(m, static_cast<double>(v));
    });
    std::vector<double> sum(static_cast<size_t>(n_out), 0.0);
    for_each([&](C v, int64_t o) {
      const double m = mx[static_cast<size_t>(o)];
      sum[static_cast<size_t>(o)] += std::exp(static_cast<double>(v) - (std::isfinite(m) ? m : 0.0));
    });
    for (int64_t i = 0; i < n_out; ++i) {
      const double m = mx[static_cast<size_t>(i)];
      out[i] = narrow<T>((std::isfinite(m) ? m : 0.0) + std::log(sum[static_cast<size_t>(i)]));
    }
    *out_tensor = std::move(result);
    return Status::OK();
  }

  std::vector<A> acc(static_cast<size_t>(n_out), op == ReduceOp::kProd ? A(1) : A(0));
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kMean:
    case ReduceOp::kLogSum:
      for_each([&](C v, int64_t o) { acc[static_cast<size_t>(o)] += static_cast<A>(v); });
      break;
    case ReduceOp::kL1:
      for_each([&](C v, int64_t o) {
        if constexpr (std::is_unsigned_v<C>) {
          acc[static_cast<size_t>(o)] += static_cast<A>(v);
        } else {
          acc[static_cast<size_t>(o)] += static_cast<A>(v < C(0) ? -v : v);
        }
      });
      break;
    case ReduceOp::kL2:
    case ReduceOp::kSumSquare:
      for_each([&](C v, int64_t o) { acc[static_cast<size_t>(o)] += static_cast<A>(v) * static_cast<A>(v); });
      break;
    case ReduceOp::kProd:
      for_each([&](C v, int64_t o) { acc[static_cast<size_t>(o)] *= static_cast<A>(v); });
      break;
    default:
      return Status::Internal("unhandled reduce op");
  }

  for (int64_t i = 0; i < n_out; ++i) {
    const A a = acc[static_cast<size_t>(i)];
    switch (op) {
      case ReduceOp::kL2:
        out[i] = narrow<T>(std::sqrt(static_cast<double>(a)));
        break;
      case ReduceOp::kLogSum:
        out[i] = narrow<T>(std::log(static_cast<double>(a)));
        break;
      case ReduceOp::kMean:
        if constexpr (std::is_floating_point_v<A>) {
          out[i] = narrow<T>(a / static_cast<double>(plan.group_size));  // 0/0 = NaN for an empty set
        } else {
          out[i] = narrow<T>(plan.group_size == 0 ? A(0) : static_cast<A>(a / static_cast<A>(plan.group_size)));
        }
        break;
      default:
        out[i] = narrow<T>(a);
        break;
    }
  }
  *out_tensor = std::move(result);
  return Status::OK();
}

class ReduceKernel : public Kernel {
 public:
  ReduceKernel(ReduceOp op, std::vector<int64_t> axes, bool keepdims, bool axes_from_input, bool noop_with_empty_axes)
      : op_(op),
        axes_(std::move(axes)),
        keepdims_(keepdims),
        axes_from_input_(axes_from_input),
        noop_with_empty_axes_(noop_with_empty_axes) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    std::vector<int64_t> axes = axes_;
    if (axes_from_input_ && ctx.has_input(1)) {
      KILN_ASSIGN_OR_RETURN(axes, read_int_list(ctx.tensor(1), "axes"));
    }
    if (axes.empty() && noop_with_empty_axes_) {
      ctx.set_output(0, Value(x));
      return Status::OK();
    }

    const int64_t rank = x.rank();
    std::vector<bool> reduced(static_cast<size_t>(rank), axes.empty());
    for (int64_t a : axes) {
      KILN_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(a, rank));
      if (rank == 0) continue;  // a scalar reduces to itself
      if (reduced[static_cast<size_t>(axis)]) {
        return Status::InvalidArgument("axis " + std::to_string(a) + " is repeated in axes");
      }
      reduced[static_cast<size_t>(axis)] = true;
    }

    ReducePlan plan;
    for (int64_t d = 0; d < rank; ++d) {
      const int64_t dim = x.dim(d);
      if (reduced[static_cast<size_t>(d)]) {
        plan.group_size *= dim;
        plan.keep_shape.push_back(1);
        if (keepdims_) plan.out_shape.push_back(1);
      } else {
        plan.keep_shape.push_back(dim);
        plan.out_shape.push_back(dim);
      }
    }

    Tensor out;
    KILN_RETURN_IF_ERROR(visit_type(NumericTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      return reduce_typed<T>(op_, x, plan, &out);
    }));
    ctx.set_output(0, Value(std::move(out)));
    return Status::OK();
  }

 private:
  ReduceOp op_;
  std::vector<int64_t> axes_;
  bool keepdims_;
  bool axes_from_input_;
  bool noop_with_empty_axes_;
};

// axes_from_input: the opset takes axes as input 1 (ReduceSum-13+), with noop_with_empty_axes.
KernelFactory make_reduce(ReduceOp op, bool axes_from_input) {
  return [op, axes_from_input](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    const ir::Node& n = b.node;
    const int64_t keepdims = n.attr_int("keepdims", 1);
    if (keepdims != 0 && keepdims != 1) {
      return Status::InvalidArgument("keepdims must be 0 or 1, got " + std::to_string(keepdims));
    }
    const bool noop = axes_from_input && n.attr_int("noop_with_empty_axes", 0) != 0;
    std::vector<int64_t> axes = axes_from_input ? std::vector<int64_t>{} : n.attr_ints("axes");
    return std::unique_ptr<Kernel>(
        std::make_unique<ReduceKernel>(op, std::move(axes), keepdims == 1, axes_from_input, noop));
  };
}

}  // namespace

KILN_REGISTER_KERNEL("", "ReduceL1", 1, kMaxOpset, make_reduce(ReduceOp::kL1, false));
KILN_REGISTER_KERNEL("", "ReduceL2", 1, kMaxOpset, make_reduce(ReduceOp::kL2, false));
KILN_REGISTER_KERNEL("", "ReduceLogSum", 1, kMaxOpset, make_reduce(ReduceOp::kLogSum, false));
KILN_REGISTER_KERNEL("", "ReduceLogSumExp", 1, kMaxOpset, make_reduce(ReduceOp::kLogSumExp, false));
KILN_REGISTER_KERNEL("", "ReduceMax", 1, kMaxOpset, make_reduce(ReduceOp::kMax, false));
KILN_REGISTER_KERNEL("", "ReduceMin", 1, kMaxOpset, make_reduce(ReduceOp::kMin, false));
KILN_REGISTER_KERNEL("", "ReduceMean", 1, kMaxOpset, make_reduce(ReduceOp::kMean, false));
KILN_REGISTER_KERNEL("", "ReduceProd", 1, kMaxOpset, make_reduce(ReduceOp::kProd, false));
KILN_REGISTER_KERNEL("", "ReduceSum", 1, 12, make_reduce(ReduceOp::kSum, false));
KILN_REGISTER_KERNEL("", "ReduceSum", 13, kMaxOpset, make_reduce(ReduceOp::kSum, true));
KILN_REGISTER_KERNEL("", "ReduceSumSquare", 1, kMaxOpset, make_reduce(ReduceOp::kSumSquare, false));

}  // namespace kiln::ref
