// Index-driven operators: OneHot, NonZero, Compress, Trilu, ReverseSequence, CumSum.
#include <cmath>

#include "kernels/ref/movement_util.h"

namespace kiln::ref {
namespace {

Expected<std::unique_ptr<Kernel>> wrap(std::function<Status(KernelContext&)> fn) {
  return std::unique_ptr<Kernel>(std::make_unique<FunctionKernel>(std::move(fn)));
}

// Reads a tensor of any numeric type as int64 values (floats truncate toward zero, as a Cast would).
Expected<std::vector<int64_t>> read_as_int64(const Tensor& t, const char* what) {
  std::vector<int64_t> v(static_cast<size_t>(t.size()));
  Status st = visit_type(NumericTypes{}, t.dtype(), [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    const T* p = t.data<T>();
    for (size_t i = 0; i < v.size(); ++i) {
      const auto c = static_cast<ComputeType<T>>(p[i]);
      if constexpr (std::is_floating_point_v<decltype(c)>) {
        if (!std::isfinite(c) || std::fabs(c) > 9.2e18) return Status::InvalidArgument(std::string(what) + " holds a value that is not a valid index");
      }
      v[i] = static_cast<int64_t>(c);
    }
    return Status::OK();
  });
  if (!st.ok()) return st.with_context(what);
  return v;
}

// ---- OneHot ----

Expected<std::unique_ptr<Kernel>> make_one_hot(const KernelBuildContext& b) {
  const int64_t axis_attr = b.node.attr_int("axis", -1);
  return wrap([axis_attr](KernelContext& ctx) -> Status {
    for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    const Tensor& indices = ctx.tensor(0);
    const Tensor& values = ctx.tensor(2);
    if (values.size() != 2) return Status::InvalidArgument("values must hold [off_value, on_value]");
    if (ctx.tensor(1).size() != 1) return Status::InvalidArgument("depth must hold one element");
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> depth_v, read_as_int64(ctx.tensor(1), "depth"));
    const int64_t depth = depth_v[0];
    if (depth < 1) return Status::InvalidArgument("depth must be positive, got " + std::to_string(depth));
    const int64_t out_rank = indices.rank() + 1;
    if (axis_attr < -out_rank || axis_attr >= out_rank) {
      return Status::InvalidArgument("axis " + std::to_string(axis_attr) + " is out of range for rank " + std::to_string(out_rank));
    }
    const int64_t axis = axis_attr < 0 ? axis_attr + out_rank : axis_attr;
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_as_int64(indices, "indices"));
    Shape out_shape = indices.shape();
    out_shape.insert(out_shape.begin() + axis, depth);
    KILN_ASSIGN_OR_RETURN(Tensor out, make_output(values.dtype(), out_shape));
    const int64_t outer = shape_size(Shape(indices.shape().begin(), indices.shape().begin() + axis));
    const int64_t inner = shape_size(Shape(indices.shape().begin() + axis, indices.shape().end()));
    KILN_RETURN_IF_ERROR(visit_storage(values.dtype(), [&](auto tag) {
      using U = typename decltype(tag)::type;
      const U off = values.data<U>()[0], on = values.data<U>()[1];
      U* o = out.data<U>();
      std::fill(o, o + out.size(), off);
      for (int64_t a = 0; a < outer; ++a) {
        for (int64_t c = 0; c < inner; ++c) {
          int64_t i = idx[static_cast<size_t>(a * inner + c)];
          if (i < -depth || i >= depth) continue;  // out of range: all off
          if (i < 0) i += depth;
          o[(a * depth + i) * inner + c] = on;
        }
      }
      return Status::OK();
    }));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  });
}

// ---- NonZero ----

template <typename T>
bool is_nonzero(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    return !v.empty();
  } else if constexpr (std::is_same_v<T, bool>) {
    return v;
  } else {
    return static_cast<ComputeType<T>>(v) != ComputeType<T>(0);
  }
}

Status non_zero(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  const Tensor& x = ctx.tensor(0);
  std::vector<int64_t> hits;
  KILN_RETURN_IF_ERROR(visit_type(AllTypes{}, x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = x.data<T>();
    for (int64_t i = 0; i < x.size(); ++i) {
      if (is_nonzero(p[i])) hits.push_back(i);
    }
    return Status::OK();
  }));
  // A scalar is treated as shape [1], as numpy and ONNX Runtime do.
  const Shape shape = x.rank() == 0 ? Shape{1} : x.shape();
  const int64_t r = static_cast<int64_t>(shape.size()), n = static_cast<int64_t>(hits.size());
  Tensor out(DataType::kInt64, {r, n});
  int64_t* o = out.data<int64_t>();
  for (int64_t j = 0; j < n; ++j) {
    int64_t rest = hits[static_cast<size_t>(j)];
    for (int64_t d = r; d-- > 0;) {
      o[d * n + j] = rest % shape[static_cast<size_t>(d)];
      rest /= shape[static_cast<size_t>(d)];
    }
  }
  ctx.set_output(0, std::move(out));
  return Status::OK();
}

// ---- Compress ----

Expected<std::unique_ptr<Kernel>> make_compress(const KernelBuildContext& b) {
  const bool has_axis = b.node.has_attr("axis");
  const int64_t axis_attr = b.node.attr_int("axis", 0);
  return wrap([has_axis, axis_attr](KernelContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    Tensor x = ctx.tensor(0);
    const Tensor& cond = ctx.tensor(1);
    if (cond.dtype() != DataType::kBool || cond.rank() != 1) return Status::InvalidArgument("condition must be a 1-D bool tensor");
    int64_t axis = 0;
    if (has_axis) {
      if (x.rank() == 0) return Status::InvalidArgument("cannot compress a scalar along an axis");
      KILN_ASSIGN_OR_RETURN(axis, normalize_axis(axis_attr, x.rank()));
    } else {
      x = x.reshaped({x.size()});
    }
    const int64_t dim = x.dim(axis);
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < cond.size(); ++i) {
      if (!cond.data<bool>()[i]) continue;
      if (i >= dim) return Status::InvalidArgument("condition selects index " + std::to_string(i) + " past dimension " + std::to_string(dim));
      keep.push_back(i);
    }
    Shape out_shape = x.shape();
    out_shape[static_cast<size_t>(axis)] = static_cast<int64_t>(keep.size());
    KILN_ASSIGN_OR_RETURN(Tensor out, make_output(x.dtype(), out_shape));
    const int64_t outer = shape_size(Shape(x.shape().begin(), x.shape().begin() + axis));
    const int64_t inner = shape_size(Shape(x.shape().begin() + axis + 1, x.shape().end()));
    KILN_RETURN_IF_ERROR(visit_storage(x.dtype(), [&](auto tag) {
      using U = typename decltype(tag)::type;
      const U* s = x.data<U>();
      U* o = out.data<U>();
      for (int64_t a = 0; a < outer; ++a) {
        for (int64_t i : keep) o = std::copy(s + (a * dim + i) * inner, s + (a * dim + i + 1) * inner, o);
      }
      return Status::OK();
    }));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  });
}

// ---- Trilu ----

Expected<std::unique_ptr<Kernel>> make_trilu(const KernelBuildContext& b) {
  const bool upper = b.node.attr_int("upper", 1) != 0;
  return wrap([upper](KernelContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (x.rank() < 2) return Status::InvalidArgument("input must have rank 2 or more, got " + shape_to_string(x.shape()));
    int64_t k = 0;
    if (ctx.has_input(1)) {
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> kv, read_int_values(ctx.tensor(1), "k"));
      if (kv.size() != 1) return Status::InvalidArgument("k must be a scalar");
      k = kv[0];
    }
    Tensor out = x.clone();
    const int64_t rows = x.dim(x.rank() - 2), cols = x.dim(x.rank() - 1);
    const int64_t mats = rows * cols == 0 ? 0 : x.size() / (rows * cols);
    KILN_RETURN_IF_ERROR(visit_storage(x.dtype(), [&](auto tag) {
      using U = typename decltype(tag)::type;
      U* o = out.data<U>();
      for (int64_t m = 0; m < mats; ++m) {
        for (int64_t i = 0; i < rows; ++i) {
          for (int64_t j = 0; j < cols; ++j) {
            // Upper keeps j - i >= k; lower keeps j - i <= k. Compare without forming i + k (k may be huge).
            const bool keep = upper ? (j - i >= k) : (j - i <= k);
            if (!keep) o[(m * rows + i) * cols + j] = U{};
          }
        }
      }
      return Status::OK();
    }));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  });
}

// ---- ReverseSequence ----

Expected<std::unique_ptr<Kernel>> make_reverse_sequence(const KernelBuildContext& b) {
  const int64_t batch_axis = b.node.attr_int("batch_axis", 1);
  const int64_t time_axis = b.node.attr_int("time_axis", 0);
  if ((batch_axis != 0 && batch_axis != 1) || (time_axis != 0 && time_axis != 1) || batch_axis == time_axis) {
    return Status::InvalidArgument("batch_axis and time_axis must be 0 and 1 in some order");
  }
  return wrap([batch_axis, time_axis](KernelContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    if (x.rank() < 2) return Status::InvalidArgument("input must have rank 2 or more");
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> lens, read_int_list(ctx.tensor(1), "sequence_lens"));
    const int64_t batch = x.dim(batch_axis), time = x.dim(time_axis);
    if (static_cast<int64_t>(lens.size()) != batch) {
      return Status::InvalidArgument("sequence_lens has " + std::to_string(lens.size()) + " entries for batch " + std::to_string(batch));
    }
    for (int64_t l : lens) {
      if (l < 0 || l > time) return Status::InvalidArgument("sequence length " + std::to_string(l) + " is outside [0, " + std::to_string(time) + "]");
    }
    const std::vector<int64_t> st = strides_of(x.shape());
    const int64_t bs = st[static_cast<size_t>(batch_axis)], ts = st[static_cast<size_t>(time_axis)];
    Tensor out(x.dtype(), x.shape());
    KILN_RETURN_IF_ERROR(visit_storage(x.dtype(), [&](auto tag) {
      using U = typename decltype(tag)::type;
      const U* s = x.data<U>();
      U* o = out.data<U>();
      for (int64_t e = 0; e < x.size(); ++e) {
        const int64_t bi = (e / bs) % batch, t = (e / ts) % time;
        const int64_t len = lens[static_cast<size_t>(bi)];
        o[e] = t < len ? s[e + (len - 1 - 2 * t) * ts] : s[e];
      }
      return Status::OK();
    }));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  });
}

// ---- CumSum ----

Expected<std::unique_ptr<Kernel>> make_cum_sum(const KernelBuildContext& b) {
  const bool exclusive = b.node.attr_int("exclusive", 0) != 0;
  const bool reverse = b.node.attr_int("reverse", 0) != 0;
  return wrap([exclusive, reverse](KernelContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> av, read_int_values(ctx.tensor(1), "axis"));
    if (av.size() != 1) return Status::InvalidArgument("axis must be a scalar");
    if (x.rank() == 0) return Status::InvalidArgument("input must have rank 1 or more");
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(av[0], x.rank()));
    const int64_t dim = x.dim(axis);
    const int64_t outer = shape_size(Shape(x.shape().begin(), x.shape().begin() + axis));
    const int64_t inner = shape_size(Shape(x.shape().begin() + axis + 1, x.shape().end()));
    Tensor out(x.dtype(), x.shape());
    KILN_RETURN_IF_ERROR(visit_type(NumericTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      const T* s = x.data<T>();
      T* o = out.data<T>();
      for (int64_t a = 0; a < outer; ++a) {
        for (int64_t c = 0; c < inner; ++c) {
          C acc = C(0);
          for (int64_t step = 0; step < dim; ++step) {
            const int64_t i = reverse ? dim - 1 - step : step;
            const int64_t e = (a * dim + i) * inner + c;
            const C v = static_cast<C>(s[e]);
            if (exclusive) {
              o[e] = T(acc);
              acc = wrapping_add(acc, v);
            } else {
              acc = wrapping_add(acc, v);
              o[e] = T(acc);
            }
          }
        }
      }
      return Status::OK();
    }));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  });
}

}  // namespace

KILN_REGISTER_KERNEL("", "OneHot", 9, kMaxOpset, make_one_hot);
KILN_REGISTER_KERNEL("", "NonZero", 9, kMaxOpset, stateless(non_zero));
KILN_REGISTER_KERNEL("", "Compress", 9, kMaxOpset, make_compress);
KILN_REGISTER_KERNEL("", "Trilu", 14, kMaxOpset, make_trilu);
KILN_REGISTER_KERNEL("", "ReverseSequence", 10, kMaxOpset, make_reverse_sequence);
KILN_REGISTER_KERNEL("", "CumSum", 11, kMaxOpset, make_cum_sum);

}  // namespace kiln::ref
