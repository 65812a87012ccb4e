// Global pooling (GlobalAveragePool, GlobalMaxPool, GlobalLpPool) and MaxUnpool.
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/ref/window.h"

namespace kiln::ref {
namespace {

// ---------------------------------------------------------------------------------------------------
// Global pools reduce all spatial dimensions of [N, C, D...] to [N, C, 1...].

enum class GlobalKind { kAverage, kMax, kLp };

class GlobalPoolKernel : public Kernel {
 public:
  GlobalPoolKernel(GlobalKind kind, double p) : kind_(kind), p_(p) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (x.rank() < 3) return Status::InvalidArgument("X must have rank >= 3, got " + shape_to_string(x.shape()));
    const int64_t planes = x.dim(0) * x.dim(1);
    const int64_t plane = planes == 0 ? 0 : x.size() / planes;
    Shape out_shape(x.shape().size(), 1);
    out_shape[0] = x.dim(0);
    out_shape[1] = x.dim(1);
    Tensor y(x.dtype(), out_shape);
    return visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
      const T* in = x.data<T>();
      T* out = y.data<T>();
      for (int64_t pl = 0; pl < planes; ++pl) {
        const T* xp = in + pl * plane;
        Acc r;
        if (kind_ == GlobalKind::kMax) {
          r = plane == 0 ? Acc(0) : static_cast<Acc>(xp[0]);
          for (int64_t i = 1; i < plane; ++i) r = std::max(r, static_cast<Acc>(xp[i]));
        } else if (kind_ == GlobalKind::kAverage) {
          r = 0;
          for (int64_t i = 0; i < plane; ++i) r += static_cast<Acc>(xp[i]);
          r = plane == 0 ? Acc(0) : r / static_cast<Acc>(plane);
        } else {
          r = 0;
          const Acc p = static_cast<Acc>(p_);
          for (int64_t i = 0; i < plane; ++i) r += std::pow(std::fabs(static_cast<Acc>(xp[i])), p);
          r = std::pow(r, Acc(1) / p);
        }
        out[pl] = static_cast<T>(r);
      }
      ctx.set_output(0, Value(std::move(y)));
      return Status::OK();
    });
  }

 private:
  GlobalKind kind_;
  double p_;
};

KernelFactory global_pool(GlobalKind kind) {
  return [kind](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    double p = 2;
    if (kind == GlobalKind::kLp) {
      // GlobalLpPool-1 has a float `p`, GlobalLpPool-2+ an int `p`.
      if (const ir::Attribute* a = b.node.find_attr("p")) {
        p = a->type == ir::Attribute::Type::kFloat ? static_cast<double>(a->f) : static_cast<double>(a->i);
      }
      if (!(p > 0)) return Status::InvalidArgument("p must be positive");
    }
    return std::unique_ptr<Kernel>(std::make_unique<GlobalPoolKernel>(kind, p));
  };
}

// ---------------------------------------------------------------------------------------------------
// MaxUnpool: scatters X into zeros at the positions MaxPool's Indices name.
//
// Indices are flat offsets into the default output shape [N, C, (in - 1) * stride - pads + kernel].
// When the optional output_shape input asks for a different (typically larger) shape, each index is
// decoded against the default shape and its coordinates placed in the requested shape, so the extra
// rows and columns stay zero (the ONNX backend test's semantics).

class MaxUnpoolKernel : public Kernel {
 public:
  explicit MaxUnpoolKernel(WindowAttrs attrs) : attrs_(std::move(attrs)) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    const Tensor& ind = ctx.tensor(1);
    if (x.rank() < 3) return Status::InvalidArgument("X must have rank >= 3, got " + shape_to_string(x.shape()));
    if (ind.dtype() != DataType::kInt64 || ind.shape() != x.shape()) {
      return Status::InvalidArgument("I must be an int64 tensor of X's shape " + shape_to_string(x.shape()));
    }
    const size_t nd = static_cast<size_t>(x.rank() - 2);
    if (attrs_.kernel_shape.size() != nd || (!attrs_.strides.empty() && attrs_.strides.size() != nd) ||
        (!attrs_.pads.empty() && attrs_.pads.size() != 2 * nd)) {
      return Status::InvalidArgument("kernel_shape/strides/pads do not match " + std::to_string(nd) +
                                     " spatial dimensions");
    }
    Shape natural{x.dim(0), x.dim(1)};
    for (size_t d = 0; d < nd; ++d) {
      const int64_t s = attrs_.strides.empty() ? 1 : attrs_.strides[d];
      const int64_t pads = attrs_.pads.empty() ? 0 : attrs_.pads[d] + attrs_.pads[d + nd];
      const int64_t o = (x.dim(static_cast<int64_t>(d) + 2) - 1) * s - pads + attrs_.kernel_shape[d];
      if (o <= 0) return Status::InvalidArgument("pads leave no output in spatial dim " + std::to_string(d));
      natural.push_back(o);
    }
    Shape out_shape = natural;
    if (ctx.has_input(2) && ctx.input(2).is_tensor()) {
      KILN_ASSIGN_OR_RETURN(out_shape, read_int_list(ctx.tensor(2), "output_shape"));
      if (out_shape.size() != natural.size()) {
        return Status::InvalidArgument("output_shape " + shape_to_string(out_shape) + " must have rank " +
                                       std::to_string(natural.size()));
      }
      if (out_shape[0] != x.dim(0) || out_shape[1] != x.dim(1)) {
        return Status::InvalidArgument("output_shape " + shape_to_string(out_shape) +
                                       " must keep X's batch and channel dimensions");
      }
    }
    KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::make(x.dtype(), out_shape));
    const std::vector<int64_t> ns = strides_of(natural), os = strides_of(out_shape);
    const int64_t natural_size = shape_size(natural);
    const size_t esize = data_type_size(x.dtype());
    if (esize == 0) return Status::InvalidArgument("X must be a numeric tensor");
    const int64_t* idx = ind.data<int64_t>();
    const auto* src = static_cast<const unsigned char*>(x.raw());
    auto* dst = static_cast<unsigned char*>(y.raw());
    for (int64_t i = 0; i < x.size(); ++i) {
      const int64_t flat = idx[i];
      if (flat < 0 || flat >= natural_size) {
        return Status::InvalidArgument("index " + std::to_string(flat) + " is out of range for output " +
                                       shape_to_string(natural));
      }
      int64_t target = 0;
      for (size_t d = 0; d < natural.size(); ++d) {
        const int64_t c = (flat / ns[d]) % natural[d];
        if (c >= out_shape[d]) {
          return Status::InvalidArgument("index " + std::to_string(flat) + " falls outside output_shape " +
                                         shape_to_string(out_shape));
        }
        target += c * os[d];
      }
      std::memcpy(dst + static_cast<size_t>(target) * esize, src + static_cast<size_t>(i) * esize, esize);
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  WindowAttrs attrs_;
};

Expected<std::unique_ptr<Kernel>> make_max_unpool(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(WindowAttrs attrs, parse_window_attrs(b.node));
  if (attrs.kernel_shape.empty()) return Status::InvalidArgument("kernel_shape is required");
  return std::unique_ptr<Kernel>(std::make_unique<MaxUnpoolKernel>(std::move(attrs)));
}

}  // namespace

KILN_REGISTER_KERNEL("", "GlobalAveragePool", 1, kMaxOpset, global_pool(GlobalKind::kAverage));
KILN_REGISTER_KERNEL("", "GlobalMaxPool", 1, kMaxOpset, global_pool(GlobalKind::kMax));
KILN_REGISTER_KERNEL("", "GlobalLpPool", 1, kMaxOpset, global_pool(GlobalKind::kLp));
KILN_REGISTER_KERNEL("", "MaxUnpool", 9, kMaxOpset, make_max_unpool);

}  // namespace kiln::ref
