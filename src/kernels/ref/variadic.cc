// Variadic elementwise reductions over inputs: Sum Mean Max Min. Every opset broadcasts (opsets 6..7
// required equal shapes, a special case; opset 1..5's `consumed_inputs` is ignored). Max and Min take
// every numeric type, including the 16-bit integers, and propagate NaN like numpy's maximum/minimum.
#include <cmath>
#include <vector>

#include "kernels/ref/elementwise.h"

namespace kiln::ref {
namespace {

template <typename V>
V max_value(V a, V b) {
  if constexpr (std::is_floating_point_v<V>) {
    if (std::isnan(a)) return a;
    if (std::isnan(b)) return b;
  }
  return a < b ? b : a;
}

template <typename V>
V min_value(V a, V b) {
  if constexpr (std::is_floating_point_v<V>) {
    if (std::isnan(a)) return a;
    if (std::isnan(b)) return b;
  }
  return b < a ? b : a;
}

enum class Reduce { kSum, kMean, kMax, kMin };

template <Reduce kind, typename Types>
Status variadic(KernelContext& ctx) {
  const size_t n = ctx.num_inputs();
  if (n == 0) return Status::InvalidArgument("at least one input is required");
  KILN_RETURN_IF_ERROR(require_same_types(ctx, n));
  std::vector<Shape> shapes;
  for (size_t i = 0; i < n; ++i) shapes.push_back(ctx.tensor(i).shape());
  KILN_ASSIGN_OR_RETURN(Shape out_shape, broadcast_shapes(shapes));
  return visit_type(Types{}, ctx.tensor(0).dtype(), [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    using V = ComputeType<T>;
    // Accumulate in the compute type (float for the 16-bit floats), folding one input at a time.
    KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::make(data_type_of<T>, out_shape));
    KILN_ASSIGN_OR_RETURN(Tensor acc_tensor, Tensor::make(data_type_of<V>, out_shape));
    V* acc = acc_tensor.data<V>();
    for (size_t i = 0; i < n; ++i) {
      const Tensor& in = ctx.tensor(i);
      KILN_ASSIGN_OR_RETURN(BroadcastLoop loop, BroadcastLoop::make_onto(out_shape, {in.shape()}));
      const T* p = in.data<T>();
      loop.for_each_row([&](int64_t o, const int64_t* off, const int64_t* step, int64_t count) {
        for (int64_t j = 0; j < count; ++j) {
          const V v = static_cast<V>(p[off[0] + j * step[0]]);
          V& a = acc[o + j];
          if (i == 0) a = v;
          else if constexpr (kind == Reduce::kSum || kind == Reduce::kMean) a = wrap_add(a, v);
          else if constexpr (kind == Reduce::kMax) a = max_value(a, v);
          else a = min_value(a, v);
        }
      });
    }
    T* po = out.data<T>();
    for (int64_t k = 0; k < out.size(); ++k) {
      if constexpr (kind == Reduce::kMean) po[k] = T(acc[k] / static_cast<V>(n));
      else po[k] = T(acc[k]);
    }
    ctx.set_output(0, Value(std::move(out)));
    return Status::OK();
  });
}

}  // namespace

KILN_REGISTER_KERNEL("", "Sum", 1, kMaxOpset, stateless(variadic<Reduce::kSum, FloatTypes>));
KILN_REGISTER_KERNEL("", "Mean", 1, kMaxOpset, stateless(variadic<Reduce::kMean, FloatTypes>));
KILN_REGISTER_KERNEL("", "Max", 1, kMaxOpset, stateless(variadic<Reduce::kMax, NumericTypes>));
KILN_REGISTER_KERNEL("", "Min", 1, kMaxOpset, stateless(variadic<Reduce::kMin, NumericTypes>));

}  // namespace kiln::ref
