// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear (8-bit linear quantization).
//
// Opset 10 takes per-tensor (scalar) scale and zero point; opset 13 adds `axis` and 1-D per-axis
// parameters. Rounding is half to even and results saturate to the 8-bit range.
#include <cmath>
#include <limits>

#include "kernels/ref/gemm.h"

namespace kiln::ref {
namespace {

bool is_8bit(DataType t) { return t == DataType::kInt8 || t == DataType::kUInt8; }

// How element i of x finds its scale / zero point: index (i / inner) % count, count 1 when per-tensor.
struct QuantParams {
  int64_t inner = 1;
  int64_t count = 1;
  int64_t slot(int64_t i) const { return count == 1 ? 0 : (i / inner) % count; }
};

// Validates scale (and zero point when given) against x: a scalar (or 1-element 1-D tensor), or, from
// opset 13, a 1-D tensor of x.dim(axis) elements.
Expected<QuantParams> quant_params(const Tensor& x, const Tensor& scale, const Tensor* zero_point, int64_t axis,
                                   bool per_axis_allowed) {
  QuantParams q;
  const bool scalar = scale.size() == 1 && scale.rank() <= 1;
  if (!scalar) {
    if (!per_axis_allowed || scale.rank() != 1) {
      return Status::InvalidArgument("scale " + shape_to_string(scale.shape()) + " must be a scalar");
    }
    KILN_ASSIGN_OR_RETURN(const int64_t ax, normalize_axis(axis, x.rank()));
    if (scale.dim(0) != x.dim(ax)) {
      return Status::InvalidArgument("scale " + shape_to_string(scale.shape()) + " must have " +
                                     std::to_string(x.dim(ax)) + " elements for axis " + std::to_string(ax));
    }
    q.count = scale.dim(0);
    for (int64_t d = ax + 1; d < x.rank(); ++d) q.inner *= x.dim(d);
  }
  if (zero_point != nullptr && zero_point->shape() != scale.shape() && !(scalar && zero_point->size() == 1)) {
    return Status::InvalidArgument("zero point " + shape_to_string(zero_point->shape()) + " must match scale " +
                                   shape_to_string(scale.shape()));
  }
  return q;
}

const Tensor* optional_tensor(const KernelContext& ctx, size_t i) {
  return ctx.has_input(i) && ctx.input(i).is_tensor() ? &ctx.tensor(i) : nullptr;
}

template <typename Q>
Q saturate_round(double v) {
  const double r = round_half_even(v);
  return static_cast<Q>(std::min<double>(std::numeric_limits<Q>::max(), std::max<double>(std::numeric_limits<Q>::min(), r)));
}

class QuantizeLinearKernel : public Kernel {
 public:
  QuantizeLinearKernel(int64_t axis, bool per_axis) : axis_(axis), per_axis_(per_axis) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    const Tensor& scale = ctx.tensor(1);
    const Tensor* zp = optional_tensor(ctx, 2);
    if (!is_floating(x.dtype()) && x.dtype() != DataType::kInt32) {
      return Status::InvalidArgument("x must be a floating-point or int32 tensor");
    }
    if (!is_floating(scale.dtype())) return Status::InvalidArgument("y_scale must be floating point");
    if (zp != nullptr && !is_8bit(zp->dtype())) return Status::InvalidArgument("y_zero_point must be int8 or uint8");
    KILN_ASSIGN_OR_RETURN(const QuantParams q, quant_params(x, scale, zp, axis_, per_axis_));
    const DataType out_type = zp != nullptr ? zp->dtype() : DataType::kUInt8;
    Tensor y(out_type, x.shape());
    // float inputs divide in float like the numpy reference; double and int32 in double.
    const bool in_float = x.dtype() != DataType::kFloat64 && x.dtype() != DataType::kInt32;
    for (int64_t i = 0; i < x.size(); ++i) {
      const int64_t s = q.slot(i);
      const double xv = x.dtype() == DataType::kInt32 ? x.data<int32_t>()[i] : float_element(x, i);
      const double sc = float_element(scale, s);
      const double scaled = in_float ? static_cast<double>(static_cast<float>(xv) / static_cast<float>(sc)) : xv / sc;
      const double v = round_half_even(scaled) + static_cast<double>(zp ? int_element(*zp, s) : 0);
      if (out_type == DataType::kUInt8) {
        y.data<uint8_t>()[i] = saturate_round<uint8_t>(v);
      } else {
        y.data<int8_t>()[i] = saturate_round<int8_t>(v);
      }
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  int64_t axis_;
  bool per_axis_;
};

class DequantizeLinearKernel : public Kernel {
 public:
  DequantizeLinearKernel(int64_t axis, bool per_axis) : axis_(axis), per_axis_(per_axis) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    const Tensor& scale = ctx.tensor(1);
    const Tensor* zp = optional_tensor(ctx, 2);
    if (!is_8bit(x.dtype()) && x.dtype() != DataType::kInt32) {
      return Status::InvalidArgument("x must be int8, uint8 or int32");
    }
    if (!is_floating(scale.dtype())) return Status::InvalidArgument("x_scale must be floating point");
    if (zp != nullptr && zp->dtype() != x.dtype()) return Status::InvalidArgument("x_zero_point must have x's type");
    KILN_ASSIGN_OR_RETURN(const QuantParams q, quant_params(x, scale, zp, axis_, per_axis_));
    Tensor y(scale.dtype(), x.shape());
    return visit_type(FloatTypes{}, scale.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
      for (int64_t i = 0; i < x.size(); ++i) {
        const int64_t s = q.slot(i);
        const int64_t centered = int_element(x, i) - (zp ? int_element(*zp, s) : 0);
        y.data<T>()[i] = static_cast<T>(static_cast<A>(centered) * static_cast<A>(float_element(scale, s)));
      }
      ctx.set_output(0, Value(std::move(y)));
      return Status::OK();
    });
  }

 private:
  int64_t axis_;
  bool per_axis_;
};

template <typename K>
KernelFactory quantize_factory() {
  return [](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    return std::unique_ptr<Kernel>(std::make_unique<K>(b.node.attr_int("axis", 1), b.opset >= 13));
  };
}

// DynamicQuantizeLinear: uint8 quantization with a range that always includes 0, computed in float
// exactly as the ONNX reference does.
Status dynamic_quantize_linear(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  const Tensor& x = ctx.tensor(0);
  if (x.dtype() != DataType::kFloat32) return Status::InvalidArgument("x must be a float tensor");
  const float* xd = x.data<float>();
  float lo = 0, hi = 0;
  for (int64_t i = 0; i < x.size(); ++i) {
    lo = std::min(lo, xd[i]);
    hi = std::max(hi, xd[i]);
  }
  const float scale = (hi - lo) / 255.0f;
  Tensor y(DataType::kUInt8, x.shape());
  uint8_t zp = 0;
  if (scale > 0) {
    zp = saturate_round<uint8_t>(static_cast<double>(0.0f - lo / scale));
    for (int64_t i = 0; i < x.size(); ++i) {
      y.data<uint8_t>()[i] = saturate_round<uint8_t>(round_half_even(static_cast<double>(xd[i] / scale)) + zp);
    }
  }
  ctx.set_output(0, Value(std::move(y)));
  if (ctx.num_outputs() > 1) ctx.set_output(1, Value(Tensor::scalar<float>(scale)));
  if (ctx.num_outputs() > 2) ctx.set_output(2, Value(Tensor::scalar<uint8_t>(zp)));
  return Status::OK();
}

}  // namespace

KILN_REGISTER_KERNEL("", "QuantizeLinear", 10, kMaxOpset, quantize_factory<QuantizeLinearKernel>());
KILN_REGISTER_KERNEL("", "DequantizeLinear", 10, kMaxOpset, quantize_factory<DequantizeLinearKernel>());
KILN_REGISTER_KERNEL("", "DynamicQuantizeLinear", 11, kMaxOpset, stateless(dynamic_quantize_linear));

}  // namespace kiln::ref
