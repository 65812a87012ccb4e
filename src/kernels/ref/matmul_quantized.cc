// MatMulInteger and QLinearMatMul: numpy.matmul of 8-bit tensors with their zero points subtracted,
// accumulated in int32 (QLinearMatMul then requantizes to 8 bits).
//
// A's zero point (and QLinearMatMul's a_scale) is a scalar or one value per row of A (M values); B's is
// a scalar or one value per column of B (N values).
#include <limits>

#include "kernels/ref/gemm.h"

namespace kiln::ref {
namespace {

bool is_8bit(DataType t) { return t == DataType::kInt8 || t == DataType::kUInt8; }

const Tensor* optional_tensor(const KernelContext& ctx, size_t i) {
  return ctx.has_input(i) && ctx.input(i).is_tensor() ? &ctx.tensor(i) : nullptr;
}

// A per-tensor value (scalar or 1 element) or `n` per-row/column values in a 1-D tensor.
Status check_param(const Tensor* t, const char* what, int64_t n) {
  if (t == nullptr || (t->size() == 1 && t->rank() <= 1) || (t->rank() == 1 && t->dim(0) == n)) return Status::OK();
  return Status::InvalidArgument(std::string(what) + " " + shape_to_string(t->shape()) + " must be a scalar or have " +
                                 std::to_string(n) + " elements");
}

// The int32 product of (a - a_zero_point) and (b - b_zero_point), shaped like numpy.matmul(a, b).
Expected<Tensor> integer_matmul(const Tensor& a, const Tensor* a_zp, const Tensor& b, const Tensor* b_zp,
                                MatMulDims* dims) {
  if (!is_8bit(a.dtype()) || !is_8bit(b.dtype())) return Status::InvalidArgument("A and B must be int8 or uint8");
  KILN_ASSIGN_OR_RETURN(*dims, matmul_dims(a.shape(), b.shape()));
  const MatMulDims& d = *dims;
  if (a_zp != nullptr && a_zp->dtype() != a.dtype()) return Status::InvalidArgument("a_zero_point must have A's type");
  if (b_zp != nullptr && b_zp->dtype() != b.dtype()) return Status::InvalidArgument("b_zero_point must have B's type");
  KILN_RETURN_IF_ERROR(check_param(a_zp, "a_zero_point", d.M));
  KILN_RETURN_IF_ERROR(check_param(b_zp, "b_zero_point", d.N));
  std::vector<int32_t> av(static_cast<size_t>(a.size())), bv(static_cast<size_t>(b.size()));
  for (int64_t i = 0; i < a.size(); ++i) {
    const int64_t zp = a_zp == nullptr ? 0 : int_element(*a_zp, a_zp->size() == 1 ? 0 : (i / d.K) % d.M);
    av[static_cast<size_t>(i)] = static_cast<int32_t>(int_element(a, i) - zp);
  }
  for (int64_t i = 0; i < b.size(); ++i) {
    const int64_t zp = b_zp == nullptr ? 0 : int_element(*b_zp, b_zp->size() == 1 ? 0 : i % d.N);
    bv[static_cast<size_t>(i)] = static_cast<int32_t>(int_element(b, i) - zp);
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::make(DataType::kInt32, d.out_shape));
  batched_matmul<int32_t>(d, av.data(), bv.data(), y.data<int32_t>());
  return y;
}

Status matmul_integer(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
  MatMulDims d;
  KILN_ASSIGN_OR_RETURN(Tensor y,
                        integer_matmul(ctx.tensor(0), optional_tensor(ctx, 2), ctx.tensor(1), optional_tensor(ctx, 3), &d));
  ctx.set_output(0, Value(std::move(y)));
  return Status::OK();
}

Status qlinear_matmul(KernelContext& ctx) {
  for (size_t i = 0; i < 8; ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
  const Tensor& a_scale = ctx.tensor(1);
  const Tensor& b_scale = ctx.tensor(4);
  const Tensor& y_scale = ctx.tensor(6);
  const Tensor& y_zp = ctx.tensor(7);
  MatMulDims d;
  KILN_ASSIGN_OR_RETURN(Tensor acc, integer_matmul(ctx.tensor(0), &ctx.tensor(2), ctx.tensor(3), &ctx.tensor(5), &d));
  for (const Tensor* s : {&a_scale, &b_scale, &y_scale}) {
    if (!is_floating(s->dtype())) return Status::InvalidArgument("scales must be floating point");
  }
  if (!is_8bit(y_zp.dtype())) return Status::InvalidArgument("y_zero_point must be int8 or uint8");
  KILN_RETURN_IF_ERROR(check_param(&a_scale, "a_scale", d.M));
  KILN_RETURN_IF_ERROR(check_param(&b_scale, "b_scale", d.N));
  KILN_RETURN_IF_ERROR(check_param(&y_scale, "y_scale", 1));
  KILN_RETURN_IF_ERROR(check_param(&y_zp, "y_zero_point", 1));
  Tensor y(y_zp.dtype(), acc.shape());
  const float ys = static_cast<float>(float_element(y_scale, 0));
  const double zp = static_cast<double>(int_element(y_zp, 0));
  const int32_t* ad = acc.data<int32_t>();
  for (int64_t i = 0; i < y.size(); ++i) {
    const int64_t n = d.N == 0 ? 0 : i % d.N, m = d.N == 0 || d.M == 0 ? 0 : (i / d.N) % d.M;
    const float as = static_cast<float>(float_element(a_scale, a_scale.size() == 1 ? 0 : m));
    const float bs = static_cast<float>(float_element(b_scale, b_scale.size() == 1 ? 0 : n));
    // The real multiplier is formed in float, as ONNX Runtime does.
    const double v = round_half_even(static_cast<double>(static_cast<float>(ad[i]) * (as * bs / ys))) + zp;
    if (y.dtype() == DataType::kUInt8) {
      y.data<uint8_t>()[i] = static_cast<uint8_t>(std::min(255.0, std::max(0.0, v)));
    } else {
      y.data<int8_t>()[i] = static_cast<int8_t>(std::min(127.0, std::max(-128.0, v)));
    }
  }
  ctx.set_output(0, Value(std::move(y)));
  return Status::OK();
}

}  // namespace

KILN_REGISTER_KERNEL("", "MatMulInteger", 10, kMaxOpset, stateless(matmul_integer));
KILN_REGISTER_KERNEL("", "QLinearMatMul", 10, kMaxOpset, stateless(qlinear_matmul));

}  // namespace kiln::ref
