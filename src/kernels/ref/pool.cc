// Windowed pooling: AveragePool, MaxPool (with the optional Indices output) and LpPool.
//
// All three walk the taps of every window with for_each_tap (window.h), which skips taps that fall
// in the padding; each kernel then reduces the taps of one output position.
#include <cmath>
#include <limits>

#include "kernels/ref/window.h"

namespace kiln::ref {
namespace {

enum class PoolKind { kAverage, kMax, kLp };

struct PoolOptions {
  PoolKind kind = PoolKind::kAverage;
  WindowAttrs window;
  bool count_include_pad = false;  // AveragePool
  bool column_major_indices = false;  // MaxPool storage_order = 1
  double p = 2;  // LpPool
};

class PoolKernel : public Kernel {
 public:
  explicit PoolKernel(PoolOptions o) : o_(std::move(o)) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (x.rank() < 3) return Status::InvalidArgument("X must have rank >= 3, got " + shape_to_string(x.shape()));
    const size_t nd = static_cast<size_t>(x.rank() - 2);
    if (o_.window.kernel_shape.size() != nd) {
      return Status::InvalidArgument("kernel_shape " + shape_to_string(o_.window.kernel_shape) + " does not match " +
                                     std::to_string(nd) + " spatial dimensions");
    }
    KILN_ASSIGN_OR_RETURN(WindowGeometry g, forward_geometry(o_.window, Shape(x.shape().begin() + 2, x.shape().end()),
                                                             o_.window.kernel_shape));
    Shape out_shape{x.dim(0), x.dim(1)};
    out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
    KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::make(x.dtype(), out_shape));
    Tensor indices;
    const bool want_indices = o_.kind == PoolKind::kMax && ctx.num_outputs() > 1;
    if (want_indices) indices = Tensor(DataType::kInt64, out_shape);
    Status st;
    if (o_.kind == PoolKind::kMax) {
      using MaxTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t>;
      st = visit_type(MaxTypes{}, x.dtype(), [&](auto tag) {
        max_pool<typename decltype(tag)::type>(x, g, &y, want_indices ? &indices : nullptr);
        return Status::OK();
      });
    } else {
      st = visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
        sum_pool<typename decltype(tag)::type>(x, g, &y);
        return Status::OK();
      });
    }
    KILN_RETURN_IF_ERROR(st);
    ctx.set_output(0, Value(std::move(y)));
    if (want_indices) ctx.set_output(1, Value(std::move(indices)));
    return Status::OK();
  }

 private:
  template <typename T>
  void max_pool(const Tensor& x, const WindowGeometry& g, Tensor* y, Tensor* indices) const {
    using C = ComputeType<T>;
    const int64_t planes = x.dim(0) * x.dim(1), in_size = g.in_size(), out_size = g.out_size();
    const auto tables = tap_tables(g.out, g.in, g);
    // Column-major spatial index of each row-major spatial offset, for storage_order = 1.
    std::vector<int64_t> col_major;
    if (indices != nullptr && o_.column_major_indices) {
      col_major.resize(static_cast<size_t>(in_size));
      const std::vector<int64_t> rm = strides_of(g.in);
      for (int64_t i = 0; i < in_size; ++i) {
        int64_t idx = 0, cm_stride = 1;
        for (size_t d = 0; d < g.rank(); ++d) {
          idx += ((i / rm[d]) % g.in[d]) * cm_stride;
          cm_stride *= g.in[d];
        }
        col_major[static_cast<size_t>(i)] = idx;
      }
    }
    std::vector<C> best(static_cast<size_t>(out_size));
    std::vector<int64_t> arg(static_cast<size_t>(out_size));
    for (int64_t pl = 0; pl < planes; ++pl) {
      const T* xp = x.data<T>() + pl * in_size;
      std::fill(best.begin(), best.end(), std::numeric_limits<C>::lowest());
      std::fill(arg.begin(), arg.end(), -1);
      for_each_tap(g.out, g.in, g.kernel, tables, [&](int64_t, int64_t p, int64_t i) {
        const C v = static_cast<C>(xp[i]);
        if (arg[static_cast<size_t>(p)] < 0 || v > best[static_cast<size_t>(p)]) {
          best[static_cast<size_t>(p)] = v;
          arg[static_cast<size_t>(p)] = i;
        }
      });
      T* yp = y->data<T>() + pl * out_size;
      for (int64_t p = 0; p < out_size; ++p) yp[p] = static_cast<T>(best[static_cast<size_t>(p)]);
      if (indices != nullptr) {
        int64_t* ip = indices->data<int64_t>() + pl * out_size;
        for (int64_t p = 0; p < out_size; ++p) {
          const int64_t a = arg[static_cast<size_t>(p)];
          const int64_t spatial = a < 0 ? 0 : (col_major.empty() ? a : col_major[static_cast<size_t>(a)]);
          ip[p] = pl * in_size + spatial;
        }
      }
    }
  }

  // AveragePool and LpPool: a sum over the taps inside the input, then a per-position finish.
  template <typename T>
  void sum_pool(const Tensor& x, const WindowGeometry& g, Tensor* y) const {
    using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const int64_t planes = x.dim(0) * x.dim(1), in_size = g.in_size(), out_size = g.out_size();
    const auto tables = tap_tables(g.out, g.in, g);
    // Divisors: taps inside the input (counted once, they do not depend on the plane), or with
    // count_include_pad the taps inside the padded input.
    std::vector<int64_t> count(static_cast<size_t>(out_size), 0);
    for_each_tap(g.out, g.in, g.kernel, tables, [&](int64_t, int64_t p, int64_t) { ++count[static_cast<size_t>(p)]; });
    if (o_.count_include_pad) padded_counts(g, &count);
    std::vector<Acc> sum(static_cast<size_t>(out_size));
    const Acc p_exp = static_cast<Acc>(o_.p);
    for (int64_t pl = 0; pl < planes; ++pl) {
      const T* xp = x.data<T>() + pl * in_size;
      std::fill(sum.begin(), sum.end(), Acc(0));
      if (o_.kind == PoolKind::kAverage) {
        for_each_tap(g.out, g.in, g.kernel, tables,
                     [&](int64_t, int64_t p, int64_t i) { sum[static_cast<size_t>(p)] += static_cast<Acc>(xp[i]); });
      } else {
        for_each_tap(g.out, g.in, g.kernel, tables, [&](int64_t, int64_t p, int64_t i) {
          sum[static_cast<size_t>(p)] += std::pow(std::fabs(static_cast<Acc>(xp[i])), p_exp);
        });
      }
      T* yp = y->data<T>() + pl * out_size;
      for (int64_t p = 0; p < out_size; ++p) {
        const Acc s = sum[static_cast<size_t>(p)];
        const int64_t c = count[static_cast<size_t>(p)];
        if (o_.kind == PoolKind::kAverage) {
          yp[p] = static_cast<T>(c > 0 ? s / static_cast<Acc>(c) : Acc(0));
        } else {
          yp[p] = static_cast<T>(std::pow(s, Acc(1) / p_exp));
        }
      }
    }
  }

  // Replaces count[p] with the number of taps of window p inside the padded input
  // [-pad_begin, in + pad_end) per dimension (ceil_mode windows may reach past it).
  static void padded_counts(const WindowGeometry& g, std::vector<int64_t>* count) {
    const size_t nd = g.rank();
    std::vector<std::vector<int64_t>> per_dim(nd);
    for (size_t d = 0; d < nd; ++d) {
      per_dim[d].resize(static_cast<size_t>(g.out[d]));
      for (int64_t o = 0; o < g.out[d]; ++o) {
        int64_t n = 0;
        for (int64_t k = 0; k < g.kernel[d]; ++k) {
          const int64_t c = o * g.stride[d] - g.pad_begin[d] + k * g.dilation[d];
          if (c >= -g.pad_begin[d] && c < g.in[d] + g.pad_end[d]) ++n;
        }
        per_dim[d][static_cast<size_t>(o)] = n;
      }
    }
    const std::vector<int64_t> os = strides_of(g.out);
    for (size_t p = 0; p < count->size(); ++p) {
      int64_t n = 1;
      for (size_t d = 0; d < nd; ++d) n *= per_dim[d][static_cast<size_t>((static_cast<int64_t>(p) / os[d]) % g.out[d])];
      (*count)[p] = n;
    }
  }

  PoolOptions o_;
};

Expected<PoolOptions> parse_pool(const ir::Node& n, PoolKind kind) {
  PoolOptions o;
  o.kind = kind;
  KILN_ASSIGN_OR_RETURN(o.window, parse_window_attrs(n));
  if (o.window.kernel_shape.empty()) return Status::InvalidArgument("kernel_shape is required");
  return o;
}

Expected<std::unique_ptr<Kernel>> make_average_pool(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(PoolOptions o, parse_pool(b.node, PoolKind::kAverage));
  o.count_include_pad = b.node.attr_int("count_include_pad", 0) != 0;
  return std::unique_ptr<Kernel>(std::make_unique<PoolKernel>(std::move(o)));
}

Expected<std::unique_ptr<Kernel>> make_max_pool(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(PoolOptions o, parse_pool(b.node, PoolKind::kMax));
  const int64_t storage_order = b.node.attr_int("storage_order", 0);
  if (storage_order != 0 && storage_order != 1) {
    return Status::InvalidArgument("storage_order must be 0 or 1, got " + std::to_string(storage_order));
  }
  o.column_major_indices = storage_order == 1;
  return std::unique_ptr<Kernel>(std::make_unique<PoolKernel>(std::move(o)));
}

// LpPool-1 has a float `p` (default 2.0); LpPool-2+ an int `p` (default 2).
Expected<std::unique_ptr<Kernel>> make_lp_pool(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(PoolOptions o, parse_pool(b.node, PoolKind::kLp));
  const ir::Attribute* p = b.node.find_attr("p");
  o.p = p == nullptr ? 2.0 : (p->type == ir::Attribute::Type::kFloat ? static_cast<double>(p->f)
                                                                        : static_cast<double>(p->i));
  if (!(o.p > 0)) return Status::InvalidArgument("p must be positive");
  return std::unique_ptr<Kernel>(std::make_unique<PoolKernel>(std::move(o)));
}

}  // namespace

KILN_REGISTER_KERNEL("", "AveragePool", 1, kMaxOpset, make_average_pool);
KILN_REGISTER_KERNEL("", "MaxPool", 1, kMaxOpset, make_max_pool);
KILN_REGISTER_KERNEL("", "LpPool", 1, kMaxOpset, make_lp_pool);

}  // namespace kiln::ref
