// Ordering operators: ArgMax, ArgMin, TopK, Unique.
//
// Comparisons use a strict weak order in which NaN sorts above every number and NaNs tie with each
// other, so a NaN in the input gives a defined answer instead of undefined behaviour in std::sort.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/ref/movement_util.h"

namespace kiln::ref {
namespace {

template <typename T>
bool key_less(const T& a, const T& b) {
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool> || std::is_integral_v<T>) {
    return a < b;
  } else {
    const auto x = static_cast<ComputeType<T>>(a), y = static_cast<ComputeType<T>>(b);
    if (std::isnan(x)) return false;
    if (std::isnan(y)) return true;
    return x < y;
  }
}

// Splits a shape around `axis` into (outer, dim, inner).
struct AxisSplit {
  int64_t outer, dim, inner;
};
AxisSplit split_at(const Shape& s, int64_t axis) {
  return {shape_size(Shape(s.begin(), s.begin() + axis)), s[static_cast<size_t>(axis)],
          shape_size(Shape(s.begin() + axis + 1, s.end()))};
}

// ---- ArgMax / ArgMin ----

class ArgKernel : public Kernel {
 public:
  ArgKernel(bool is_max, int64_t axis, bool keepdims, bool last)
      : is_max_(is_max), axis_(axis), keepdims_(keepdims), last_(last) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (x.rank() == 0) return Status::InvalidArgument("input must have rank 1 or more");
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_, x.rank()));
    const AxisSplit sp = split_at(x.shape(), axis);
    if (sp.dim == 0) return Status::InvalidArgument("cannot take an arg-extreme over an empty axis");
    Shape out_shape = x.shape();
    if (keepdims_) {
      out_shape[static_cast<size_t>(axis)] = 1;
    } else {
      out_shape.erase(out_shape.begin() + axis);
    }
    Tensor out(DataType::kInt64, out_shape);
    int64_t* o = out.data<int64_t>();
    KILN_RETURN_IF_ERROR(visit_type(NumericTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* s = x.data<T>();
      for (int64_t a = 0; a < sp.outer; ++a) {
        for (int64_t c = 0; c < sp.inner; ++c) {
          const T* row = s + a * sp.dim * sp.inner + c;
          int64_t best = 0;
          for (int64_t i = 1; i < sp.dim; ++i) {
            const T& v = row[i * sp.inner];
            const T& b = row[best * sp.inner];
            const bool better = is_max_ ? key_less(b, v) : key_less(v, b);
            const bool tie = !key_less(b, v) && !key_less(v, b);
            if (better || (tie && last_)) best = i;
          }
          o[a * sp.inner + c] = best;
        }
      }
      return Status::OK();
    }));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  }

 private:
  bool is_max_;
  int64_t axis_;
  bool keepdims_, last_;
};

template <bool kMax>
Expected<std::unique_ptr<Kernel>> make_arg(const KernelBuildContext& b) {
  return std::unique_ptr<Kernel>(std::make_unique<ArgKernel>(kMax, b.node.attr_int("axis", 0),
                                                             b.node.attr_int("keepdims", 1) != 0,
                                                             b.node.attr_int("select_last_index", 0) != 0));
}

// ---- TopK ----

class TopKKernel : public Kernel {
 public:
  // attr_k >= 0 for TopK-1 (k attribute); -1 to read input 1.
  TopKKernel(int64_t attr_k, int64_t axis, bool largest) : attr_k_(attr_k), axis_(axis), largest_(largest) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    int64_t k = attr_k_;
    if (k < 0) {
      KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> kv, read_int_list(ctx.tensor(1), "K"));
      if (kv.size() != 1) return Status::InvalidArgument("K must hold one value");
      k = kv[0];
    }
    if (x.rank() == 0) return Status::InvalidArgument("input must have rank 1 or more");
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_, x.rank()));
    const AxisSplit sp = split_at(x.shape(), axis);
    if (k < 0 || k > sp.dim) {
      return Status::InvalidArgument("k " + std::to_string(k) + " is outside [0, " + std::to_string(sp.dim) + "]");
    }
    Shape out_shape = x.shape();
    out_shape[static_cast<size_t>(axis)] = k;
    Tensor values(x.dtype(), out_shape);
    Tensor indices(DataType::kInt64, out_shape);
    KILN_RETURN_IF_ERROR(visit_type(NumericTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* s = x.data<T>();
      T* ov = values.data<T>();
      int64_t* oi = indices.data<int64_t>();
      std::vector<int64_t> order(static_cast<size_t>(sp.dim));
      for (int64_t a = 0; a < sp.outer; ++a) {
        for (int64_t c = 0; c < sp.inner; ++c) {
          const T* row = s + a * sp.dim * sp.inner + c;
          std::iota(order.begin(), order.end(), 0);
          // Ties keep the lower index first.
          auto cmp = [&](int64_t i, int64_t j) {
            const T& u = row[i * sp.inner];
            const T& v = row[j * sp.inner];
            if (largest_ ? key_less(v, u) : key_less(u, v)) return true;
            if (largest_ ? key_less(u, v) : key_less(v, u)) return false;
            return i < j;
          };
          std::partial_sort(order.begin(), order.begin() + k, order.end(), cmp);
          for (int64_t i = 0; i < k; ++i) {
            const int64_t e = (a * k + i) * sp.inner + c;
            oi[e] = order[static_cast<size_t>(i)];
            ov[e] = row[order[static_cast<size_t>(i)] * sp.inner];
          }
        }
      }
      return Status::OK();
    }));
    ctx.set_output(0, std::move(values));
    if (ctx.num_outputs() > 1) ctx.set_output(1, std::move(indices));
    return Status::OK();
  }

 private:
  int64_t attr_k_, axis_;
  bool largest_;
};

Expected<std::unique_ptr<Kernel>> make_top_k(const KernelBuildContext& b) {
  int64_t k = -1;
  if (b.opset < 10) {
    k = b.node.attr_int("k", -1);
    if (k < 0) return Status::InvalidArgument("TopK-1 needs a non-negative k attribute");
  }
  // `sorted` only allows an unsorted result; a sorted one is always valid.
  return std::unique_ptr<Kernel>(
      std::make_unique<TopKKernel>(k, b.node.attr_int("axis", -1), b.node.attr_int("largest", 1) != 0));
}

// ---- Unique ----

class UniqueKernel : public Kernel {
 public:
  UniqueKernel(bool has_axis, int64_t axis, bool sorted) : has_axis_(has_axis), axis_(axis), sorted_(sorted) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    // Slices along the axis are compared lexicographically (numpy.unique(axis=...)); without an axis
    // every element is its own slice of the flattened input.
    AxisSplit sp{1, x.size(), 1};
    int64_t axis = 0;
    if (has_axis_) {
      if (x.rank() == 0) return Status::InvalidArgument("cannot take unique slices of a scalar");
      KILN_ASSIGN_OR_RETURN(axis, normalize_axis(axis_, x.rank()));
      sp = split_at(x.shape(), axis);
    }
    const int64_t n = sp.dim;
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::vector<int64_t> group_of(static_cast<size_t>(n));
    std::vector<int64_t> first, counts;  // per group, in sorted order
    KILN_RETURN_IF_ERROR(visit_type(AllTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* s = x.data<T>();
      // -1, 0, 1: slice i versus slice j.
      auto compare = [&](int64_t i, int64_t j) -> int {
        for (int64_t a = 0; a < sp.outer; ++a) {
          for (int64_t c = 0; c < sp.inner; ++c) {
            const T& u = s[(a * n + i) * sp.inner + c];
            const T& v = s[(a * n + j) * sp.inner + c];
            if (key_less(u, v)) return -1;
            if (key_less(v, u)) return 1;
          }
        }
        return 0;
      };
      std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return compare(i, j) < 0; });
      for (size_t p = 0; p < order.size(); ++p) {
        if (p == 0 || compare(order[p - 1], order[p]) != 0) {
          first.push_back(order[p]);  // stable sort: the first of a run has the lowest index
          counts.push_back(0);
        }
        group_of[static_cast<size_t>(order[p])] = static_cast<int64_t>(first.size()) - 1;
        ++counts.back();
      }
      return Status::OK();
    }));
    const int64_t u = static_cast<int64_t>(first.size());
    // rank[g]: output position of sorted group g.
    std::vector<int64_t> rank(static_cast<size_t>(u));
    std::iota(rank.begin(), rank.end(), 0);
    if (!sorted_) {
      std::vector<int64_t> by_first(static_cast<size_t>(u));
      std::iota(by_first.begin(), by_first.end(), 0);
      std::sort(by_first.begin(), by_first.end(), [&](int64_t a, int64_t b) { return first[a] < first[b]; });
      for (int64_t p = 0; p < u; ++p) rank[static_cast<size_t>(by_first[p])] = p;
    }
    Tensor indices(DataType::kInt64, {u}), inverse(DataType::kInt64, {n}), count_t(DataType::kInt64, {u});
    std::vector<int64_t> slice_of(static_cast<size_t>(u));  // input slice shown at each output position
    for (int64_t g = 0; g < u; ++g) {
      const int64_t p = rank[static_cast<size_t>(g)];
      slice_of[static_cast<size_t>(p)] = first[static_cast<size_t>(g)];
      indices.data<int64_t>()[p] = first[static_cast<size_t>(g)];
      count_t.data<int64_t>()[p] = counts[static_cast<size_t>(g)];
    }
    for (int64_t i = 0; i < n; ++i) inverse.data<int64_t>()[i] = rank[static_cast<size_t>(group_of[static_cast<size_t>(i)])];
    Shape y_shape{u};
    if (has_axis_) {
      y_shape = x.shape();
      y_shape[static_cast<size_t>(axis)] = u;
    }
    Tensor y(x.dtype(), y_shape);
    KILN_RETURN_IF_ERROR(visit_storage(x.dtype(), [&](auto tag) {
      using U = typename decltype(tag)::type;
      const U* s = x.data<U>();
      U* o = y.data<U>();
      for (int64_t a = 0; a < sp.outer; ++a) {
        for (int64_t p = 0; p < u; ++p) {
          const U* src = s + (a * n + slice_of[static_cast<size_t>(p)]) * sp.inner;
          std::copy(src, src + sp.inner, o + (a * u + p) * sp.inner);
        }
      }
      return Status::OK();
    }));
    ctx.set_output(0, std::move(y));
    if (ctx.num_outputs() > 1) ctx.set_output(1, std::move(indices));
    if (ctx.num_outputs() > 2) ctx.set_output(2, std::move(inverse));
    if (ctx.num_outputs() > 3) ctx.set_output(3, std::move(count_t));
    return Status::OK();
  }

 private:
  bool has_axis_;
  int64_t axis_;
  bool sorted_;
};

Expected<std::unique_ptr<Kernel>> make_unique_op(const KernelBuildContext& b) {
  return std::unique_ptr<Kernel>(std::make_unique<UniqueKernel>(b.node.has_attr("axis"), b.node.attr_int("axis", 0),
                                                                b.node.attr_int("sorted", 1) != 0));
}

}  // namespace

KILN_REGISTER_KERNEL("", "ArgMax", 1, kMaxOpset, make_arg<true>);
KILN_REGISTER_KERNEL("", "ArgMin", 1, kMaxOpset, make_arg<false>);
KILN_REGISTER_KERNEL("", "TopK", 1, kMaxOpset, make_top_k);
KILN_REGISTER_KERNEL("", "Unique", 11, kMaxOpset, make_unique_op);

}  // namespace kiln::ref
