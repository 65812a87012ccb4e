// Operators that only change a tensor's shape or read it: Reshape, Flatten, Squeeze, Unsqueeze, Shape,
// Size, Expand; and the shape-driven generators ConstantOfShape, EyeLike, Range.
#include <cmath>
#include <limits>

#include "kernels/ref/movement_util.h"

namespace kiln::ref {
namespace {

Expected<std::unique_ptr<Kernel>> wrap(std::function<Status(KernelContext&)> fn) {
  return std::unique_ptr<Kernel>(std::make_unique<FunctionKernel>(std::move(fn)));
}

// ---- Reshape ----

// Resolves a requested shape against the input's: 0 copies the input dim (unless allowzero), one -1
// takes what is left.
Expected<Shape> resolve_reshape(const Shape& in, const std::vector<int64_t>& req, bool allowzero) {
  Shape out(req.size());
  int64_t infer = -1;
  int64_t known = 1;
  bool has_zero = false;
  for (size_t i = 0; i < req.size(); ++i) {
    int64_t d = req[i];
    if (d == -1) {
      if (infer >= 0) return Status::InvalidArgument("shape " + shape_to_string(req) + " has more than one -1");
      infer = static_cast<int64_t>(i);
      continue;
    }
    if (d < -1) return Status::InvalidArgument("shape " + shape_to_string(req) + " has a negative dimension");
    if (d == 0 && !allowzero) {
      if (i >= in.size()) {
        return Status::InvalidArgument("shape " + shape_to_string(req) + " copies dimension " + std::to_string(i) +
                                       " of an input of rank " + std::to_string(in.size()));
      }
      d = in[i];
    }
    if (d == 0) has_zero = true;
    out[i] = d;
    if (__builtin_mul_overflow(known, d, &known)) return Status::InvalidArgument("shape " + shape_to_string(req) + " is too large");
  }
  KILN_ASSIGN_OR_RETURN(const int64_t total, element_count(in));
  if (infer >= 0) {
    if (allowzero && has_zero) return Status::InvalidArgument("shape with allowzero may not hold both 0 and -1");
    if (known == 0 || total % known != 0) {
      return Status::InvalidArgument("cannot reshape " + shape_to_string(in) + " to " + shape_to_string(req));
    }
    out[static_cast<size_t>(infer)] = total / known;
  } else if (known != total) {
    return Status::InvalidArgument("cannot reshape " + shape_to_string(in) + " to " + shape_to_string(req));
  }
  return out;
}

Expected<std::unique_ptr<Kernel>> make_reshape(const KernelBuildContext& b) {
  const bool allowzero = b.node.attr_int("allowzero", 0) != 0;
  if (b.opset < 5) {
    const std::vector<int64_t> shape = b.node.attr_ints("shape");
    return wrap([shape](KernelContext& ctx) -> Status {
      KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
      const Tensor& x = ctx.tensor(0);
      KILN_ASSIGN_OR_RETURN(Shape out, resolve_reshape(x.shape(), shape, false));
      ctx.set_output(0, x.reshaped(std::move(out)));
      return Status::OK();
    });
  }
  return wrap([allowzero](KernelContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> req, read_int_list(ctx.tensor(1), "shape"));
    KILN_ASSIGN_OR_RETURN(Shape out, resolve_reshape(x.shape(), req, allowzero));
    ctx.set_output(0, x.reshaped(std::move(out)));
    return Status::OK();
  });
}

// ---- Flatten ----

Expected<std::unique_ptr<Kernel>> make_flatten(const KernelBuildContext& b) {
  const int64_t axis = b.node.attr_int("axis", 1);
  return wrap([axis](KernelContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    const int64_t r = x.rank();
    if (axis < -r || axis > r) {
      return Status::InvalidArgument("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r));
    }
    const int64_t a = axis < 0 ? axis + r : axis;
    int64_t outer = 1;
    for (int64_t i = 0; i < a; ++i) outer *= x.dim(i);
    int64_t inner = 1;
    for (int64_t i = a; i < r; ++i) inner *= x.dim(i);
    ctx.set_output(0, x.reshaped({outer, inner}));
    return Status::OK();
  });
}

// ---- Squeeze / Unsqueeze ----

Status squeeze_run(KernelContext& ctx, const std::vector<int64_t>* attr_axes) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  const Tensor& x = ctx.tensor(0);
  std::vector<int64_t> axes;
  bool have_axes = false;
  if (attr_axes) {
    axes = *attr_axes;
    have_axes = !axes.empty();
  } else if (ctx.has_input(1)) {
    KILN_ASSIGN_OR_RETURN(axes, read_int_list(ctx.tensor(1), "axes"));
    have_axes = true;
  }
  std::vector<bool> drop(static_cast<size_t>(x.rank()), false);
  if (have_axes) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> norm, normalize_axes(axes, x.rank()));
    for (int64_t a : norm) {
      if (x.dim(a) != 1) {
        return Status::InvalidArgument("cannot squeeze axis " + std::to_string(a) + " of shape " +
                                       shape_to_string(x.shape()) + ": dimension is not 1");
      }
      drop[static_cast<size_t>(a)] = true;
    }
  } else {
    for (int64_t i = 0; i < x.rank(); ++i) drop[static_cast<size_t>(i)] = x.dim(i) == 1;
  }
  Shape out;
  for (int64_t i = 0; i < x.rank(); ++i) {
    if (!drop[static_cast<size_t>(i)]) out.push_back(x.dim(i));
  }
  ctx.set_output(0, x.reshaped(std::move(out)));
  return Status::OK();
}

Expected<std::unique_ptr<Kernel>> make_squeeze(const KernelBuildContext& b) {
  if (b.opset < 13) {
    const std::vector<int64_t> axes = b.node.attr_ints("axes");
    return wrap([axes](KernelContext& ctx) { return squeeze_run(ctx, &axes); });
  }
  return wrap([](KernelContext& ctx) { return squeeze_run(ctx, nullptr); });
}

Status unsqueeze_run(KernelContext& ctx, const std::vector<int64_t>* attr_axes) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  const Tensor& x = ctx.tensor(0);
  std::vector<int64_t> axes;
  if (attr_axes) {
    axes = *attr_axes;
  } else {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    KILN_ASSIGN_OR_RETURN(axes, read_int_list(ctx.tensor(1), "axes"));
  }
  const int64_t out_rank = x.rank() + static_cast<int64_t>(axes.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> norm, normalize_axes(axes, out_rank));
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : norm) inserted[static_cast<size_t>(a)] = true;
  Shape out;
  size_t next = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(inserted[static_cast<size_t>(i)] ? 1 : x.shape()[next++]);
  ctx.set_output(0, x.reshaped(std::move(out)));
  return Status::OK();
}

Expected<std::unique_ptr<Kernel>> make_unsqueeze(const KernelBuildContext& b) {
  if (b.opset < 13) {
    const std::vector<int64_t> axes = b.node.attr_ints("axes");
    if (axes.empty()) return Status::InvalidArgument("Unsqueeze needs the axes attribute");
    return wrap([axes](KernelContext& ctx) { return unsqueeze_run(ctx, &axes); });
  }
  return wrap([](KernelContext& ctx) { return unsqueeze_run(ctx, nullptr); });
}

// ---- Shape / Size ----

Expected<std::unique_ptr<Kernel>> make_shape(const KernelBuildContext& b) {
  const int64_t start = b.node.attr_int("start", 0);
  const bool has_end = b.node.has_attr("end");
  const int64_t end_attr = b.node.attr_int("end", 0);
  return wrap([start, has_end, end_attr](KernelContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Shape& s = ctx.tensor(0).shape();
    const int64_t r = static_cast<int64_t>(s.size());
    // Shape-15: negative start/end count from the back; both clamp to [0, rank].
    auto clamp = [r](int64_t v) { return std::clamp(v < 0 ? v + r : v, int64_t{0}, r); };
    const int64_t lo = clamp(start);
    const int64_t hi = has_end ? clamp(end_attr) : r;
    std::vector<int64_t> dims;
    for (int64_t i = lo; i < hi; ++i) dims.push_back(s[static_cast<size_t>(i)]);
    ctx.set_output(0, Tensor::from_vector<int64_t>({static_cast<int64_t>(dims.size())}, dims));
    return Status::OK();
  });
}

Status size_op(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  ctx.set_output(0, Tensor::scalar<int64_t>(ctx.tensor(0).size()));
  return Status::OK();
}

// ---- Expand ----

Status expand(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
  const Tensor& x = ctx.tensor(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, read_int_list(ctx.tensor(1), "shape"));
  for (int64_t d : shape) {
    if (d < 0) return Status::InvalidArgument("shape " + shape_to_string(shape) + " has a negative dimension");
  }
  KILN_ASSIGN_OR_RETURN(Shape out_shape, broadcast_shapes({x.shape(), shape}));
  KILN_ASSIGN_OR_RETURN(Tensor out, make_output(x.dtype(), out_shape));
  copy_strided(x, 0, broadcast_strides(x.shape(), out_shape.size()), out);
  ctx.set_output(0, std::move(out));
  return Status::OK();
}

// ---- ConstantOfShape ----

class ConstantOfShapeKernel : public Kernel {
 public:
  explicit ConstantOfShapeKernel(Tensor value) : value_(std::move(value)) {}
  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, read_int_list(ctx.tensor(0), "shape"));
    for (int64_t d : shape) {
      if (d < 0) return Status::InvalidArgument("shape " + shape_to_string(shape) + " has a negative dimension");
    }
    KILN_ASSIGN_OR_RETURN(Tensor out, make_output(value_.dtype(), shape));
    // A broadcast copy of the one-element value fills the output.
    copy_strided(value_, 0, std::vector<int64_t>(shape.size(), 0), out);
    ctx.set_output(0, std::move(out));
    return Status::OK();
  }

 private:
  Tensor value_;
};

Expected<std::unique_ptr<Kernel>> make_constant_of_shape(const KernelBuildContext& b) {
  Tensor value = Tensor::scalar<float>(0.0f);
  if (const Tensor* t = b.node.attr_tensor("value")) {
    if (t->size() != 1) return Status::InvalidArgument("value must hold exactly one element");
    value = *t;
  }
  return std::unique_ptr<Kernel>(std::make_unique<ConstantOfShapeKernel>(std::move(value)));
}

// ---- EyeLike ----

Expected<std::unique_ptr<Kernel>> make_eye_like(const KernelBuildContext& b) {
  const int64_t k = b.node.attr_int("k", 0);
  std::optional<DataType> dtype;
  if (b.node.has_attr("dtype")) {
    dtype = data_type_from_onnx(static_cast<int32_t>(b.node.attr_int("dtype", 0)));
    if (!dtype || *dtype == DataType::kString || *dtype == DataType::kUndefined) {
      return Status::InvalidArgument("unsupported dtype for EyeLike");
    }
  }
  return wrap([k, dtype](KernelContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (x.rank() != 2) return Status::InvalidArgument("input must be 2-D, got shape " + shape_to_string(x.shape()));
    const DataType dt = dtype ? *dtype : x.dtype();
    KILN_ASSIGN_OR_RETURN(Tensor out, make_output(dt, x.shape()));
    const int64_t rows = x.dim(0), cols = x.dim(1);
    const Status st = visit_type(TypeList<float, double, Float16, BFloat16, int8_t, int16_t, int32_t, int64_t, uint8_t,
                                          uint16_t, uint32_t, uint64_t, bool>{},
                                 dt, [&](auto tag) {
                                   using T = typename decltype(tag)::type;
                                   T* o = out.data<T>();
                                   // |k| beyond the matrix selects nothing; checking first keeps i + k from overflowing.
                                   for (int64_t i = 0; i < rows && k < cols && k > -rows; ++i) {
                                     const int64_t j = i + k;
                                     if (j >= 0 && j < cols) o[i * cols + j] = convert_element<T>(true);
                                   }
                                   return Status::OK();
                                 });
    KILN_RETURN_IF_ERROR(st);
    ctx.set_output(0, std::move(out));
    return Status::OK();
  });
}

// ---- Range ----

Status range(KernelContext& ctx) {
  for (size_t i = 0; i < 3; ++i) {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    if (ctx.tensor(i).size() != 1) return Status::InvalidArgument("input " + std::to_string(i) + " must be a scalar");
    if (ctx.tensor(i).dtype() != ctx.tensor(0).dtype()) return Status::InvalidArgument("inputs must share one type");
  }
  const DataType dt = ctx.tensor(0).dtype();
  return visit_type(TypeList<float, double, int16_t, int32_t, int64_t>{}, dt, [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    const T start = ctx.tensor(0).data<T>()[0];
    const T limit = ctx.tensor(1).data<T>()[0];
    const T delta = ctx.tensor(2).data<T>()[0];
    if (delta == T(0)) return Status::InvalidArgument("delta must not be zero");
    if constexpr (std::is_integral_v<T>) {
      // Exact count and values in 128-bit arithmetic: doubles lose int64 precision.
      const __int128 span = static_cast<__int128>(limit) - start, d = delta;
      __int128 n = span / d + ((span % d != 0 && (span > 0) == (d > 0)) ? 1 : 0);
      if (n < 0) n = 0;
      if (n > (__int128{1} << 40)) return Status::InvalidArgument("range has too many elements");
      KILN_ASSIGN_OR_RETURN(Tensor out, make_output(dt, {static_cast<int64_t>(n)}));
      T* o = out.data<T>();
      for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) o[i] = static_cast<T>(start + static_cast<__int128>(i) * d);
      ctx.set_output(0, std::move(out));
      return Status::OK();
    }
    const double n_real = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
    if (!(n_real < 1e12)) {
      if (std::isnan(n_real)) return Status::InvalidArgument("range bounds are not finite");
      if (n_real > 0) return Status::InvalidArgument("range has too many elements");
    }
    const int64_t n = n_real > 0 ? static_cast<int64_t>(n_real) : 0;
    KILN_ASSIGN_OR_RETURN(Tensor out, make_output(dt, {n}));
    T* o = out.data<T>();
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(start + static_cast<T>(i) * delta);
    ctx.set_output(0, std::move(out));
    return Status::OK();
  });
}

}  // namespace

KILN_REGISTER_KERNEL("", "Reshape", 1, kMaxOpset, make_reshape);
KILN_REGISTER_KERNEL("", "Flatten", 1, kMaxOpset, make_flatten);
KILN_REGISTER_KERNEL("", "Squeeze", 1, kMaxOpset, make_squeeze);
KILN_REGISTER_KERNEL("", "Unsqueeze", 1, kMaxOpset, make_unsqueeze);
KILN_REGISTER_KERNEL("", "Shape", 1, kMaxOpset, make_shape);
KILN_REGISTER_KERNEL("", "Size", 1, kMaxOpset, stateless(size_op));
KILN_REGISTER_KERNEL("", "Expand", 8, kMaxOpset, stateless(expand));
KILN_REGISTER_KERNEL("", "ConstantOfShape", 9, kMaxOpset, make_constant_of_shape);
KILN_REGISTER_KERNEL("", "EyeLike", 9, kMaxOpset, make_eye_like);
KILN_REGISTER_KERNEL("", "Range", 11, kMaxOpset, stateless(range));

}  // namespace kiln::ref
