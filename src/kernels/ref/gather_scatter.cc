// Indexed reads and writes: Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND.
//
// Every kernel first turns its indices into element offsets, checking each one, and only then touches
// the data, so a bad index fails cleanly with nothing written. Negative indices count from the back.
#include "kernels/ref/movement_util.h"

namespace kiln::ref {
namespace {

Expected<std::unique_ptr<Kernel>> wrap(std::function<Status(KernelContext&)> fn) {
  return std::unique_ptr<Kernel>(std::make_unique<FunctionKernel>(std::move(fn)));
}

// Resolves index `i` against a dimension of size `dim`, allowing [-dim, dim).
Expected<int64_t> resolve_index(int64_t i, int64_t dim) {
  if (i < -dim || i >= dim) {
    return Status::InvalidArgument("index " + std::to_string(i) + " is out of range for a dimension of size " +
                                   std::to_string(dim));
  }
  return i < 0 ? i + dim : i;
}

int64_t product(const Shape& s, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to && i < s.size(); ++i) n *= s[i];
  return n;
}

// Copies `count` elements for every (dst_offset, src_offset) pair.
Status copy_pairs(const Tensor& src, Tensor& dst, const std::vector<std::pair<int64_t, int64_t>>& pairs, int64_t count) {
  return visit_storage(src.dtype(), [&](auto tag) {
    using U = typename decltype(tag)::type;
    const U* s = src.data<U>();
    U* d = dst.data<U>();
    for (const auto& [o, i] : pairs) std::copy(s + i, s + i + count, d + o);
    return Status::OK();
  });
}

// ---- Gather ----

Expected<std::unique_ptr<Kernel>> make_gather(const KernelBuildContext& b) {
  const int64_t axis_attr = b.node.attr_int("axis", 0);
  return wrap([axis_attr](KernelContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& data = ctx.tensor(0);
    const Tensor& idx_t = ctx.tensor(1);
    if (data.rank() == 0) return Status::InvalidArgument("data must have rank 1 or more");
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_attr, data.rank()));
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_int_values(idx_t, "indices"));
    const int64_t dim = data.dim(axis);
    for (int64_t& i : idx) {
      KILN_ASSIGN_OR_RETURN(i, resolve_index(i, dim));
    }
    const Shape& ds = data.shape();
    Shape out_shape(ds.begin(), ds.begin() + axis);
    out_shape.insert(out_shape.end(), idx_t.shape().begin(), idx_t.shape().end());
    out_shape.insert(out_shape.end(), ds.begin() + axis + 1, ds.end());
    KILN_ASSIGN_OR_RETURN(Tensor out, make_output(data.dtype(), out_shape));
    const int64_t outer = product(ds, 0, static_cast<size_t>(axis));
    const int64_t inner = product(ds, static_cast<size_t>(axis) + 1, ds.size());
    const int64_t n = static_cast<int64_t>(idx.size());
    if (out.size() == 0) {
      ctx.set_output(0, std::move(out));
      return Status::OK();
    }
    std::vector<std::pair<int64_t, int64_t>> pairs;
    pairs.reserve(static_cast<size_t>(outer * n));
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < n; ++j) pairs.emplace_back((o * n + j) * inner, (o * dim + idx[static_cast<size_t>(j)]) * inner);
    }
    KILN_RETURN_IF_ERROR(copy_pairs(data, out, pairs, inner));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  });
}

// ---- GatherElements / ScatterElements (shared indexing) ----

// For each element of `indices` (same rank as data), the offset into a tensor of shape `data_shape`
// that it addresses along `axis`. Off the axis, indices' dims must not exceed data's.
Expected<std::vector<int64_t>> element_offsets(const Shape& data_shape, const Tensor& indices, int64_t axis) {
  const Shape& is = indices.shape();
  if (is.size() != data_shape.size()) {
    return Status::InvalidArgument("indices rank " + std::to_string(is.size()) + " differs from data rank " +
                                   std::to_string(data_shape.size()));
  }
  for (size_t d = 0; d < is.size(); ++d) {
    if (static_cast<int64_t>(d) != axis && is[d] > data_shape[d]) {
      return Status::InvalidArgument("indices shape " + shape_to_string(is) + " exceeds data shape " +
                                     shape_to_string(data_shape) + " off the axis");
    }
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_int_values(indices, "indices"));
  const std::vector<int64_t> ds = strides_of(data_shape);
  const int64_t dim = data_shape[static_cast<size_t>(axis)];
  std::vector<int64_t> offsets(idx.size());
  std::vector<int64_t> pos(is.size(), 0);
  for (size_t e = 0; e < idx.size(); ++e) {
    KILN_ASSIGN_OR_RETURN(const int64_t i, resolve_index(idx[e], dim));
    int64_t off = 0;
    for (size_t d = 0; d < is.size(); ++d) off += (static_cast<int64_t>(d) == axis ? i : pos[d]) * ds[d];
    offsets[e] = off;
    for (size_t d = is.size(); d-- > 0;) {
      if (++pos[d] < is[d]) break;
      pos[d] = 0;
    }
  }
  return offsets;
}

Expected<std::unique_ptr<Kernel>> make_gather_elements(const KernelBuildContext& b) {
  const int64_t axis_attr = b.node.attr_int("axis", 0);
  return wrap([axis_attr](KernelContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& data = ctx.tensor(0);
    if (data.rank() == 0) return Status::InvalidArgument("data must have rank 1 or more");
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_attr, data.rank()));
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, element_offsets(data.shape(), ctx.tensor(1), axis));
    KILN_ASSIGN_OR_RETURN(Tensor out, make_output(data.dtype(), ctx.tensor(1).shape()));
    std::vector<std::pair<int64_t, int64_t>> pairs(offsets.size());
    for (size_t e = 0; e < offsets.size(); ++e) pairs[e] = {static_cast<int64_t>(e), offsets[e]};
    KILN_RETURN_IF_ERROR(copy_pairs(data, out, pairs, 1));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  });
}

// ---- GatherND / ScatterND (shared indexing) ----

struct NdPlan {
  Shape prefix;                  // indices.shape[:-1]
  int64_t slice = 1;             // elements per addressed slice
  std::vector<int64_t> offsets;  // data offset of each addressed slice
};

Expected<NdPlan> nd_offsets(const Shape& data_shape, const Tensor& indices, int64_t batch_dims) {
  const Shape& is = indices.shape();
  const int64_t r = static_cast<int64_t>(data_shape.size());
  const int64_t q = static_cast<int64_t>(is.size());
  if (r < 1 || q < 1) return Status::InvalidArgument("data and indices must have rank 1 or more");
  if (batch_dims < 0 || batch_dims >= std::min(r, q)) {
    return Status::InvalidArgument("batch_dims " + std::to_string(batch_dims) + " must be less than both ranks");
  }
  for (int64_t d = 0; d < batch_dims; ++d) {
    if (is[static_cast<size_t>(d)] != data_shape[static_cast<size_t>(d)]) {
      return Status::InvalidArgument("batch dimensions of indices " + shape_to_string(is) + " and data " +
                                     shape_to_string(data_shape) + " differ");
    }
  }
  const int64_t k = is.back();
  if (k < 0 || k > r - batch_dims) {
    return Status::InvalidArgument("last dimension of indices (" + std::to_string(k) + ") exceeds the data rank");
  }
  // With k == 0 the tuples hold no values, so their count is not bounded by the indices' memory.
  if (k == 0 && shape_size(Shape(is.begin(), is.end() - 1)) > (int64_t{1} << 32)) {
    return Status::InvalidArgument("indices " + shape_to_string(is) + " address too many slices");
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_int_values(indices, "indices"));
  NdPlan plan;
  plan.prefix.assign(is.begin(), is.end() - 1);
  plan.slice = product(data_shape, static_cast<size_t>(batch_dims + k), data_shape.size());
  const std::vector<int64_t> ds = strides_of(data_shape);
  const int64_t batch_stride = batch_dims > 0 ? ds[static_cast<size_t>(batch_dims - 1)] : 0;
  const int64_t tuples = shape_size(plan.prefix);
  const int64_t per_batch = tuples / std::max<int64_t>(1, product(is, 0, static_cast<size_t>(batch_dims)));
  plan.offsets.resize(static_cast<size_t>(tuples));
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = per_batch > 0 ? (t / per_batch) * batch_stride : 0;
    for (int64_t j = 0; j < k; ++j) {
      const size_t d = static_cast<size_t>(batch_dims + j);
      KILN_ASSIGN_OR_RETURN(const int64_t i, resolve_index(idx[static_cast<size_t>(t * k + j)], data_shape[d]));
      off += i * ds[d];
    }
    plan.offsets[static_cast<size_t>(t)] = off;
  }
  return plan;
}

Expected<std::unique_ptr<Kernel>> make_gather_nd(const KernelBuildContext& b) {
  const int64_t batch_dims = b.node.attr_int("batch_dims", 0);
  return wrap([batch_dims](KernelContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& data = ctx.tensor(0);
    KILN_ASSIGN_OR_RETURN(NdPlan plan, nd_offsets(data.shape(), ctx.tensor(1), batch_dims));
    const int64_t k = ctx.tensor(1).shape().back();
    Shape out_shape = plan.prefix;
    out_shape.insert(out_shape.end(), data.shape().begin() + batch_dims + k, data.shape().end());
    KILN_ASSIGN_OR_RETURN(Tensor out, make_output(data.dtype(), out_shape));
    std::vector<std::pair<int64_t, int64_t>> pairs(plan.offsets.size());
    for (size_t t = 0; t < pairs.size(); ++t) pairs[t] = {static_cast<int64_t>(t) * plan.slice, plan.offsets[t]};
    KILN_RETURN_IF_ERROR(copy_pairs(data, out, pairs, plan.slice));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  });
}

// ---- Scatter writes with reduction ----

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Expected<Reduction> parse_reduction(const ir::Node& n) {
  const std::string r = n.attr_string("reduction", "none");
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  return Status::InvalidArgument("unknown reduction '" + r + "'");
}

// out = copy of data; then for each t, out[offsets[t] + j] (op)= updates[t * slice + j] in order, so
// that with duplicates the last update wins (none) or all combine (add, mul, max, min).
Expected<Tensor> scatter_into(const Tensor& data, const Tensor& updates, const std::vector<int64_t>& offsets,
                              int64_t slice, Reduction red) {
  if (updates.dtype() != data.dtype()) return Status::InvalidArgument("updates must have the data's type");
  Tensor out = data.clone();
  if (red == Reduction::kNone) {
    std::vector<std::pair<int64_t, int64_t>> pairs(offsets.size());
    for (size_t t = 0; t < offsets.size(); ++t) pairs[t] = {offsets[t], static_cast<int64_t>(t) * slice};
    KILN_RETURN_IF_ERROR(copy_pairs(updates, out, pairs, slice));
    return out;
  }
  KILN_RETURN_IF_ERROR(visit_type(NumericTypes{}, data.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = ComputeType<T>;
    T* o = out.data<T>();
    const T* u = updates.data<T>();
    for (size_t t = 0; t < offsets.size(); ++t) {
      for (int64_t j = 0; j < slice; ++j) {
        T& dst = o[offsets[t] + j];
        const C a = static_cast<C>(dst), v = static_cast<C>(u[static_cast<int64_t>(t) * slice + j]);
        switch (red) {
          case Reduction::kAdd: dst = T(wrapping_add(a, v)); break;
          case Reduction::kMul: dst = T(wrapping_mul(a, v)); break;
          case Reduction::kMax: dst = T(a < v ? v : a); break;
          case Reduction::kMin: dst = T(v < a ? v : a); break;
          case Reduction::kNone: break;
        }
      }
    }
    return Status::OK();
  }));
  return out;
}

Expected<std::unique_ptr<Kernel>> make_scatter_elements(const KernelBuildContext& b) {
  const int64_t axis_attr = b.node.attr_int("axis", 0);
  KILN_ASSIGN_OR_RETURN(const Reduction red, parse_reduction(b.node));
  return wrap([axis_attr, red](KernelContext& ctx) -> Status {
    for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    const Tensor& data = ctx.tensor(0);
    const Tensor& indices = ctx.tensor(1);
    const Tensor& updates = ctx.tensor(2);
    if (data.rank() == 0) return Status::InvalidArgument("data must have rank 1 or more");
    if (updates.shape() != indices.shape()) {
      return Status::InvalidArgument("updates shape " + shape_to_string(updates.shape()) + " differs from indices shape " +
                                     shape_to_string(indices.shape()));
    }
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_attr, data.rank()));
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, element_offsets(data.shape(), indices, axis));
    KILN_ASSIGN_OR_RETURN(Tensor out, scatter_into(data, updates, offsets, 1, red));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  });
}

Expected<std::unique_ptr<Kernel>> make_scatter_nd(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(const Reduction red, parse_reduction(b.node));
  return wrap([red](KernelContext& ctx) -> Status {
    for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    const Tensor& data = ctx.tensor(0);
    const Tensor& indices = ctx.tensor(1);
    const Tensor& updates = ctx.tensor(2);
    KILN_ASSIGN_OR_RETURN(NdPlan plan, nd_offsets(data.shape(), indices, 0));
    Shape expect = plan.prefix;
    expect.insert(expect.end(), data.shape().begin() + indices.shape().back(), data.shape().end());
    if (updates.shape() != expect) {
      return Status::InvalidArgument("updates shape " + shape_to_string(updates.shape()) + " should be " +
                                     shape_to_string(expect));
    }
    KILN_ASSIGN_OR_RETURN(Tensor out, scatter_into(data, updates, plan.offsets, plan.slice, red));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  });
}

}  // namespace

KILN_REGISTER_KERNEL("", "Gather", 1, kMaxOpset, make_gather);
KILN_REGISTER_KERNEL("", "GatherElements", 11, kMaxOpset, make_gather_elements);
KILN_REGISTER_KERNEL("", "GatherND", 11, kMaxOpset, make_gather_nd);
// Scatter-9/11 is ScatterElements without reduction (deprecated in 11 but still valid).
KILN_REGISTER_KERNEL("", "Scatter", 9, kMaxOpset, make_scatter_elements);
KILN_REGISTER_KERNEL("", "ScatterElements", 11, kMaxOpset, make_scatter_elements);
KILN_REGISTER_KERNEL("", "ScatterND", 11, kMaxOpset, make_scatter_nd);

}  // namespace kiln::ref
