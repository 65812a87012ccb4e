// Where (select by a broadcast condition) and Clip (bounds as attributes before opset 11, optional
// scalar inputs from opset 11 on).
#include <cstring>
#include <limits>
#include <optional>

#include "kernels/ref/elementwise.h"

namespace kiln::ref {
namespace {

// An opaque element of `N` bytes: Where only moves elements, so any fixed-size type (complex too)
// selects through the unsigned type of its width.
struct Bytes16 {
  uint64_t lo, hi;
};

template <typename E>
void select(const BroadcastLoop& loop, const Tensor& cond, const Tensor& x, const Tensor& y, Tensor& out) {
  const bool* c = cond.data<bool>();
  const E* px = static_cast<const E*>(x.raw());
  const E* py = static_cast<const E*>(y.raw());
  E* po = static_cast<E*>(out.raw());
  loop.for_each_row([&](int64_t o, const int64_t* off, const int64_t* step, int64_t n) {
    for (int64_t j = 0; j < n; ++j) {
      po[o + j] = c[off[0] + j * step[0]] ? px[off[1] + j * step[1]] : py[off[2] + j * step[2]];
    }
  });
}

Status where(KernelContext& ctx) {
  for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
  const Tensor& cond = ctx.tensor(0);
  const Tensor& x = ctx.tensor(1);
  const Tensor& y = ctx.tensor(2);
  if (cond.dtype() != DataType::kBool) {
    return Status::InvalidArgument("condition must be bool, got " + std::string(data_type_name(cond.dtype())));
  }
  if (x.dtype() != y.dtype()) {
    return Status::InvalidArgument("X is " + std::string(data_type_name(x.dtype())) + " but Y is " +
                                   std::string(data_type_name(y.dtype())));
  }
  KILN_ASSIGN_OR_RETURN(BroadcastLoop loop, BroadcastLoop::make({cond.shape(), x.shape(), y.shape()}));
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::make(x.dtype(), loop.out_shape()));
  if (x.dtype() == DataType::kString) {
    select<std::string>(loop, cond, x, y, out);
  } else {
    switch (data_type_size(x.dtype())) {
      case 1: select<uint8_t>(loop, cond, x, y, out); break;
      case 2: select<uint16_t>(loop, cond, x, y, out); break;
      case 4: select<uint32_t>(loop, cond, x, y, out); break;
      case 8: select<uint64_t>(loop, cond, x, y, out); break;
      case 16: select<Bytes16>(loop, cond, x, y, out); break;
      default:
        return Status::Unimplemented("data type " + std::string(data_type_name(x.dtype())) + " is not supported");
    }
  }
  ctx.set_output(0, Value(std::move(out)));
  return Status::OK();
}

// Clip to [lo, hi]; NaN passes through, and lo > hi gives hi everywhere (numpy's clip).
template <typename T>
Tensor clip_tensor(const Tensor& x, std::optional<ComputeType<T>> lo, std::optional<ComputeType<T>> hi) {
  using V = ComputeType<T>;
  return unary_map<T, T>(x, [lo, hi](V v) {
    if (lo && v < *lo) v = *lo;
    if (hi && v > *hi) v = *hi;
    return v;
  });
}

class ClipKernel : public Kernel {
 public:
  // Opset < 11: bounds from attributes (absent = unbounded); otherwise from inputs 1 and 2.
  ClipKernel(bool from_inputs, std::optional<float> lo, std::optional<float> hi)
      : from_inputs_(from_inputs), lo_attr_(lo), hi_attr_(hi) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    return visit_type(NumericTypes{}, x.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      using V = ComputeType<T>;
      std::optional<V> lo, hi;
      if (from_inputs_) {
        KILN_ASSIGN_OR_RETURN(lo, bound<T>(ctx, 1, "min"));
        KILN_ASSIGN_OR_RETURN(hi, bound<T>(ctx, 2, "max"));
      } else {
        if (lo_attr_) lo = convert_value<T>(*lo_attr_);
        if (hi_attr_) hi = convert_value<T>(*hi_attr_);
      }
      ctx.set_output(0, clip_tensor<T>(x, lo, hi));
      return Status::OK();
    });
  }

 private:
  // The optional bound input i: absent (or an empty name) means unbounded; otherwise a one-element
  // tensor of the input's type.
  template <typename T>
  static Expected<std::optional<ComputeType<T>>> bound(const KernelContext& ctx, size_t i, const char* name) {
    if (!ctx.has_input(i)) return std::optional<ComputeType<T>>();
    if (!ctx.input(i).is_tensor()) return Status::InvalidArgument(std::string(name) + " must be a tensor");
    const Tensor& t = ctx.tensor(i);
    if (t.dtype() != data_type_of<T>) {
      return Status::InvalidArgument(std::string(name) + " has type " + std::string(data_type_name(t.dtype())) +
                                     ", input has " + std::string(data_type_name(data_type_of<T>)));
    }
    if (t.size() != 1) {
      return Status::InvalidArgument(std::string(name) + " must be a scalar, got shape " + shape_to_string(t.shape()));
    }
    return std::optional<ComputeType<T>>(static_cast<ComputeType<T>>(t.data<T>()[0]));
  }

  bool from_inputs_;
  std::optional<float> lo_attr_, hi_attr_;
};

Expected<std::unique_ptr<Kernel>> make_clip(const KernelBuildContext& b) {
  if (b.opset >= 11) return std::unique_ptr<Kernel>(std::make_unique<ClipKernel>(true, std::nullopt, std::nullopt));
  std::optional<float> lo, hi;
  if (b.opset >= 6) {
    lo = -std::numeric_limits<float>::max();
    hi = std::numeric_limits<float>::max();
  }
  if (b.node.has_attr("min")) lo = b.node.attr_float("min", 0);
  if (b.node.has_attr("max")) hi = b.node.attr_float("max", 0);
  return std::unique_ptr<Kernel>(std::make_unique<ClipKernel>(false, lo, hi));
}

}  // namespace

KILN_REGISTER_KERNEL("", "Where", 9, kMaxOpset, stateless(where));
KILN_REGISTER_KERNEL("", "Clip", 1, kMaxOpset, make_clip);

}  // namespace kiln::ref
