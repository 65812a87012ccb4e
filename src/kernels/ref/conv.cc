// Conv, ConvInteger and QLinearConv: im2col per (image, group) followed by a GEMM with the weights.
#include "kernels/ref/gemm.h"
#include "kernels/ref/window.h"

#include <limits>

namespace kiln::ref {
namespace {

// Checks X [N, C, D...] and W [M, C/group, k...] against each other and resolves the geometry.
Expected<WindowGeometry> conv_geometry(const WindowAttrs& attrs, int64_t group, const Tensor& x, const Tensor& w) {
  if (x.rank() < 3) return Status::InvalidArgument("X must have rank >= 3, got " + shape_to_string(x.shape()));
  if (w.rank() != x.rank()) {
    return Status::InvalidArgument("W " + shape_to_string(w.shape()) + " must have the rank of X " +
                                   shape_to_string(x.shape()));
  }
  const int64_t C = x.dim(1), M = w.dim(0);
  if (w.dim(1) * group != C) {
    return Status::InvalidArgument("X has " + std::to_string(C) + " channels but W " + shape_to_string(w.shape()) +
                                   " with group " + std::to_string(group) + " expects " +
                                   std::to_string(w.dim(1) * group));
  }
  if (M % group != 0) {
    return Status::InvalidArgument("output channels " + std::to_string(M) + " are not divisible by group " +
                                   std::to_string(group));
  }
  const std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  if (!attrs.kernel_shape.empty() && attrs.kernel_shape != kernel) {
    return Status::InvalidArgument("kernel_shape " + shape_to_string(attrs.kernel_shape) + " does not match W " +
                                   shape_to_string(w.shape()));
  }
  return forward_geometry(attrs, Shape(x.shape().begin() + 2, x.shape().end()), kernel);
}

// y [N, M, out...] += convolution of x [N, C, in...] with w [M, C/group, k...]; all already in the
// accumulation type (quantized inputs with their zero points subtracted).
template <typename Acc>
void conv_forward(const Acc* x, const Acc* w, Acc* y, int64_t N, int64_t C, int64_t M, int64_t group,
                  const WindowGeometry& g) {
  const int64_t Cg = C / group, Mg = M / group;
  const int64_t in_size = g.in_size(), out_size = g.out_size(), ks = g.kernel_size();
  const int64_t K = Cg * ks;
  const auto tables = tap_tables(g.out, g.in, g);
  std::vector<Acc> col(static_cast<size_t>(K * out_size));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t gi = 0; gi < group; ++gi) {
      std::fill(col.begin(), col.end(), Acc(0));
      im2col(x + (n * C + gi * Cg) * in_size, Cg, g, tables, col.data());
      gemm_accumulate<Acc>(Mg, out_size, K, w + gi * Mg * K, K, col.data(), out_size,
                           y + (n * M + gi * Mg) * out_size, out_size);
    }
  }
}

Shape conv_output_shape(const Tensor& x, int64_t M, const WindowGeometry& g) {
  Shape s{x.dim(0), M};
  s.insert(s.end(), g.out.begin(), g.out.end());
  return s;
}

// ---------------------------------------------------------------------------------------------------
// Conv (float types).

class ConvKernel : public Kernel {
 public:
  ConvKernel(WindowAttrs attrs, int64_t group) : attrs_(std::move(attrs)), group_(group) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    const Tensor& w = ctx.tensor(1);
    if (w.dtype() != x.dtype()) return Status::InvalidArgument("X and W have different data types");
    KILN_ASSIGN_OR_RETURN(WindowGeometry g, conv_geometry(attrs_, group_, x, w));
    const int64_t M = w.dim(0);
    const Tensor* bias = nullptr;
    if (ctx.has_input(2) && ctx.input(2).is_tensor()) {
      bias = &ctx.tensor(2);
      if (bias->dtype() != x.dtype() || bias->rank() != 1 || bias->dim(0) != M) {
        return Status::InvalidArgument("B " + shape_to_string(bias->shape()) + " must be a 1-D tensor of " +
                                       std::to_string(M) + " elements of X's type");
      }
    }
    KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::make(x.dtype(), conv_output_shape(x, M, g)));
    return visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using Acc = AccType<T>;
      const std::vector<Acc> xv = to_acc<Acc>(x.data<T>(), x.size());
      const std::vector<Acc> wv = to_acc<Acc>(w.data<T>(), w.size());
      std::vector<Acc> acc(static_cast<size_t>(y.size()), Acc(0));
      conv_forward<Acc>(xv.data(), wv.data(), acc.data(), x.dim(0), x.dim(1), M, group_, g);
      const int64_t out_size = g.out_size();
      store_with_channel_bias<T, Acc>(acc, bias, M, out_size, &y);
      ctx.set_output(0, Value(std::move(y)));
      return Status::OK();
    });
  }

 private:
  WindowAttrs attrs_;
  int64_t group_;
};

Expected<int64_t> parse_group(const ir::Node& n) {
  const int64_t group = n.attr_int("group", 1);
  if (group < 1) return Status::InvalidArgument("group must be positive, got " + std::to_string(group));
  return group;
}

Expected<std::unique_ptr<Kernel>> make_conv(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(WindowAttrs attrs, parse_window_attrs(b.node));
  KILN_ASSIGN_OR_RETURN(int64_t group, parse_group(b.node));
  return std::unique_ptr<Kernel>(std::make_unique<ConvKernel>(std::move(attrs), group));
}

// ---------------------------------------------------------------------------------------------------
// Quantized convolutions: (x - x_zero_point) conv (w - w_zero_point) accumulated in int32.

bool is_8bit(DataType t) { return t == DataType::kInt8 || t == DataType::kUInt8; }

// A zero point (or scale) that is a scalar / 1-element tensor, or, where `per_channel` allows, a 1-D
// tensor of `channels` elements.
Status check_quant_param(const Tensor& t, const char* what, bool per_channel, int64_t channels) {
  if (t.size() == 1 && t.rank() <= 1) return Status::OK();
  if (per_channel && t.rank() == 1 && t.dim(0) == channels) return Status::OK();
  return Status::InvalidArgument(std::string(what) + " " + shape_to_string(t.shape()) + " must be a scalar" +
                                 (per_channel ? " or have " + std::to_string(channels) + " elements" : ""));
}

// Reads an 8-bit tensor minus its zero point (per output channel for W: element i belongs to channel
// i / per_channel_block) into int32.
std::vector<int32_t> centered(const Tensor& t, const Tensor* zero_point, int64_t per_channel_block) {
  std::vector<int32_t> out(static_cast<size_t>(t.size()));
  const bool per_channel = zero_point != nullptr && zero_point->size() > 1;
  for (int64_t i = 0; i < t.size(); ++i) {
    const int64_t zp =
        zero_point == nullptr ? 0 : int_element(*zero_point, per_channel ? i / per_channel_block : 0);
    out[static_cast<size_t>(i)] = static_cast<int32_t>(int_element(t, i) - zp);
  }
  return out;
}

// Shared input checks and integer accumulation of ConvInteger and QLinearConv.
Expected<Tensor> quantized_conv(const WindowAttrs& attrs, int64_t group, const Tensor& x,
                                              const Tensor* x_zp, const Tensor& w, const Tensor* w_zp,
                                              WindowGeometry* geometry) {
  if (!is_8bit(x.dtype()) || !is_8bit(w.dtype())) return Status::InvalidArgument("X and W must be int8 or uint8");
  KILN_ASSIGN_OR_RETURN(*geometry, conv_geometry(attrs, group, x, w));
  const int64_t M = w.dim(0);
  if (x_zp != nullptr) {
    if (x_zp->dtype() != x.dtype()) return Status::InvalidArgument("x_zero_point must have X's type");
    KILN_RETURN_IF_ERROR(check_quant_param(*x_zp, "x_zero_point", false, 0));
  }
  if (w_zp != nullptr) {
    if (w_zp->dtype() != w.dtype()) return Status::InvalidArgument("w_zero_point must have W's type");
    KILN_RETURN_IF_ERROR(check_quant_param(*w_zp, "w_zero_point", true, M));
  }
  const std::vector<int32_t> xv = centered(x, x_zp, 1);
  const std::vector<int32_t> wv = centered(w, w_zp, M == 0 ? 1 : w.size() / M);
  KILN_ASSIGN_OR_RETURN(Tensor acc, Tensor::make(DataType::kInt32, conv_output_shape(x, M, *geometry)));
  conv_forward<int32_t>(xv.data(), wv.data(), acc.data<int32_t>(), x.dim(0), x.dim(1), M, group, *geometry);
  return acc;
}

const Tensor* optional_tensor(const KernelContext& ctx, size_t i) {
  return ctx.has_input(i) && ctx.input(i).is_tensor() ? &ctx.tensor(i) : nullptr;
}

class ConvIntegerKernel : public Kernel {
 public:
  ConvIntegerKernel(WindowAttrs attrs, int64_t group) : attrs_(std::move(attrs)), group_(group) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    const Tensor& w = ctx.tensor(1);
    WindowGeometry g;
    KILN_ASSIGN_OR_RETURN(Tensor y,
                          quantized_conv(attrs_, group_, x, optional_tensor(ctx, 2), w, optional_tensor(ctx, 3), &g));
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  WindowAttrs attrs_;
  int64_t group_;
};

Expected<std::unique_ptr<Kernel>> make_conv_integer(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(WindowAttrs attrs, parse_window_attrs(b.node));
  KILN_ASSIGN_OR_RETURN(int64_t group, parse_group(b.node));
  return std::unique_ptr<Kernel>(std::make_unique<ConvIntegerKernel>(std::move(attrs), group));
}

// Saturating conversion of a rounded real value to an 8-bit type.
template <typename Q>
Q saturate(double v) {
  const double lo = std::numeric_limits<Q>::min(), hi = std::numeric_limits<Q>::max();
  return static_cast<Q>(std::min(hi, std::max(lo, v)));
}

class QLinearConvKernel : public Kernel {
 public:
  QLinearConvKernel(WindowAttrs attrs, int64_t group) : attrs_(std::move(attrs)), group_(group) {}

  Status run(KernelContext& ctx) const override {
    for (size_t i = 0; i < 8; ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    const Tensor& x = ctx.tensor(0);
    const Tensor& x_scale = ctx.tensor(1);
    const Tensor& w = ctx.tensor(3);
    const Tensor& w_scale = ctx.tensor(4);
    const Tensor& y_scale = ctx.tensor(6);
    const Tensor& y_zp = ctx.tensor(7);
    if (!is_8bit(y_zp.dtype())) return Status::InvalidArgument("y_zero_point must be int8 or uint8");
    WindowGeometry g;
    KILN_ASSIGN_OR_RETURN(Tensor acc_t, quantized_conv(attrs_, group_, x, &ctx.tensor(2), w, &ctx.tensor(5), &g));
    const int32_t* acc = acc_t.data<int32_t>();
    const int64_t M = w.dim(0);
    if (!is_floating(x_scale.dtype()) || !is_floating(w_scale.dtype()) || !is_floating(y_scale.dtype())) {
      return Status::InvalidArgument("scales must be floating point");
    }
    KILN_RETURN_IF_ERROR(check_quant_param(x_scale, "x_scale", false, 0));
    KILN_RETURN_IF_ERROR(check_quant_param(w_scale, "w_scale", true, M));
    KILN_RETURN_IF_ERROR(check_quant_param(y_scale, "y_scale", false, 0));
    KILN_RETURN_IF_ERROR(check_quant_param(y_zp, "y_zero_point", false, 0));
    const Tensor* bias = optional_tensor(ctx, 8);
    if (bias != nullptr && (bias->dtype() != DataType::kInt32 || bias->rank() != 1 || bias->dim(0) != M)) {
      return Status::InvalidArgument("B must be a 1-D int32 tensor of " + std::to_string(M) + " elements");
    }
    Tensor y(y_zp.dtype(), acc_t.shape());
    const int64_t out_size = g.out_size();
    const float xs = static_cast<float>(float_element(x_scale, 0));
    const float ys = static_cast<float>(float_element(y_scale, 0));
    const int64_t zp = int_element(y_zp, 0);
    for (int64_t i = 0; i < y.size(); ++i) {
      const int64_t m = (i / out_size) % M;
      int32_t a = acc[i];
      if (bias != nullptr) a += bias->data<int32_t>()[m];
      // The real multiplier is computed in float, as the ONNX reference and ONNX Runtime do.
      const float ws = static_cast<float>(float_element(w_scale, w_scale.size() > 1 ? m : 0));
      const double v = round_half_even(static_cast<double>(static_cast<float>(a) * (xs * ws / ys))) +
                       static_cast<double>(zp);
      if (y.dtype() == DataType::kUInt8) {
        y.data<uint8_t>()[i] = saturate<uint8_t>(v);
      } else {
        y.data<int8_t>()[i] = saturate<int8_t>(v);
      }
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  WindowAttrs attrs_;
  int64_t group_;
};

Expected<std::unique_ptr<Kernel>> make_qlinear_conv(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(WindowAttrs attrs, parse_window_attrs(b.node));
  KILN_ASSIGN_OR_RETURN(int64_t group, parse_group(b.node));
  return std::unique_ptr<Kernel>(std::make_unique<QLinearConvKernel>(std::move(attrs), group));
}

}  // namespace

KILN_REGISTER_KERNEL("", "Conv", 1, kMaxOpset, make_conv);
KILN_REGISTER_KERNEL("", "ConvInteger", 10, kMaxOpset, make_conv_integer);
KILN_REGISTER_KERNEL("", "QLinearConv", 10, kMaxOpset, make_qlinear_conv);

}  // namespace kiln::ref
