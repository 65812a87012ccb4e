// Gemm and MatMul: the float (and plain integer) matrix products.
#include "kernels/ref/gemm.h"

namespace kiln::ref {
namespace {

using GemmTypes = TypeList<float, double, Float16, BFloat16, int32_t, int64_t, uint32_t, uint64_t>;

// ---------------------------------------------------------------------------------------------------
// Gemm: Y = alpha * A' * B' + beta * C.
// Opsets 1..6 carry a `broadcast` attribute (C must be exactly [M, N] without it); 7+ always
// broadcasts C unidirectionally; 11+ makes C optional.

class GemmKernel : public Kernel {
 public:
  GemmKernel(float alpha, float beta, bool trans_a, bool trans_b, bool legacy_no_broadcast)
      : alpha_(alpha), beta_(beta), trans_a_(trans_a), trans_b_(trans_b), legacy_no_broadcast_(legacy_no_broadcast) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& a = ctx.tensor(0);
    const Tensor& b = ctx.tensor(1);
    if (a.rank() != 2 || b.rank() != 2) {
      return Status::InvalidArgument("A and B must be 2-D, got " + shape_to_string(a.shape()) + " and " +
                                     shape_to_string(b.shape()));
    }
    if (a.dtype() != b.dtype()) return Status::InvalidArgument("A and B have different data types");
    const int64_t M = trans_a_ ? a.dim(1) : a.dim(0);
    const int64_t K = trans_a_ ? a.dim(0) : a.dim(1);
    const int64_t Kb = trans_b_ ? b.dim(1) : b.dim(0);
    const int64_t N = trans_b_ ? b.dim(0) : b.dim(1);
    if (K != Kb) {
      return Status::InvalidArgument("inner dimensions differ: A " + shape_to_string(a.shape()) + ", B " +
                                     shape_to_string(b.shape()));
    }
    const Tensor* c = nullptr;
    if (ctx.has_input(2) && ctx.input(2).is_tensor()) {
      c = &ctx.tensor(2);
      if (c->dtype() != a.dtype()) return Status::InvalidArgument("C has a different data type than A");
      if (legacy_no_broadcast_ && c->shape() != Shape{M, N} && c->size() != M * N) {
        return Status::InvalidArgument("C " + shape_to_string(c->shape()) + " must be [" + std::to_string(M) + ", " +
                                       std::to_string(N) + "] when broadcast is 0");
      }
      // Unidirectional broadcast of C to [M, N].
      if (c->rank() > 2) return Status::InvalidArgument("C must have rank <= 2, got " + shape_to_string(c->shape()));
      const Shape& cs = c->shape();
      const int64_t cr = cs.size() == 2 ? cs[0] : 1;
      const int64_t cc = cs.empty() ? 1 : cs.back();
      const bool exact_elems = legacy_no_broadcast_ && c->size() == M * N;
      if (!exact_elems && ((cr != 1 && cr != M) || (cc != 1 && cc != N))) {
        return Status::InvalidArgument("C " + shape_to_string(cs) + " does not broadcast to [" + std::to_string(M) +
                                       ", " + std::to_string(N) + "]");
      }
    }
    return visit_type(GemmTypes{}, a.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using Acc = AccType<T>;
      std::vector<Acc> av = to_acc<Acc>(a.data<T>(), a.size());
      std::vector<Acc> bv = to_acc<Acc>(b.data<T>(), b.size());
      if (trans_a_) av = transpose_matrix(av.data(), a.dim(0), a.dim(1));
      if (trans_b_) bv = transpose_matrix(bv.data(), b.dim(0), b.dim(1));
      std::vector<Acc> acc(static_cast<size_t>(M * N), Acc(0));
      gemm_accumulate<Acc>(M, N, K, av.data(), K, bv.data(), N, acc.data(), N);
      Tensor y(a.dtype(), {M, N});
      T* out = y.data<T>();
      using Scale = std::conditional_t<std::is_floating_point_v<Acc>, Acc, double>;
      const Scale alpha = static_cast<Scale>(alpha_);
      const Scale beta = static_cast<Scale>(beta_);
      // Element strides of C over [M, N]: 0 along broadcast dimensions.
      int64_t cr = 0, cc = 0;
      if (c != nullptr) {
        if (c->rank() == 2 || c->size() != M * N) {
          const std::vector<int64_t> st = broadcast_strides(c->shape(), 2);
          cr = st[0];
          cc = st[1];
        } else {  // legacy broadcast=0 with M*N elements in another shape
          cr = N;
          cc = 1;
        }
      }
      for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j) {
          Scale v = alpha * static_cast<Scale>(acc[static_cast<size_t>(i * N + j)]);
          if (c != nullptr) {
            v += beta * static_cast<Scale>(static_cast<ComputeType<T>>(c->data<T>()[i * cr + j * cc]));
          }
          out[i * N + j] = static_cast<T>(static_cast<ComputeType<T>>(v));
        }
      }
      ctx.set_output(0, Value(std::move(y)));
      return Status::OK();
    });
  }

 private:
  float alpha_, beta_;
  bool trans_a_, trans_b_;
  bool legacy_no_broadcast_;
};

Expected<std::unique_ptr<Kernel>> make_gemm(const KernelBuildContext& b) {
  const ir::Node& n = b.node;
  const bool legacy_no_broadcast = b.opset < 7 && n.attr_int("broadcast", 0) == 0;
  return std::unique_ptr<Kernel>(std::make_unique<GemmKernel>(n.attr_float("alpha", 1.0f), n.attr_float("beta", 1.0f),
                                                              n.attr_int("transA", 0) != 0,
                                                              n.attr_int("transB", 0) != 0, legacy_no_broadcast));
}

// ---------------------------------------------------------------------------------------------------
// MatMul: numpy.matmul semantics (1-D operands are promoted and the added dimension removed again;
// leading batch dimensions broadcast).

Status matmul(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
  const Tensor& a = ctx.tensor(0);
  const Tensor& b = ctx.tensor(1);
  if (a.dtype() != b.dtype()) return Status::InvalidArgument("A and B have different data types");
  KILN_ASSIGN_OR_RETURN(const MatMulDims d, matmul_dims(a.shape(), b.shape()));
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::make(a.dtype(), d.out_shape));
  return visit_type(GemmTypes{}, a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using Acc = AccType<T>;
    const std::vector<Acc> av = to_acc<Acc>(a.data<T>(), a.size());
    const std::vector<Acc> bv = to_acc<Acc>(b.data<T>(), b.size());
    std::vector<Acc> acc(static_cast<size_t>(y.size()), Acc(0));
    batched_matmul<Acc>(d, av.data(), bv.data(), acc.data());
    T* out = y.data<T>();
    for (int64_t j = 0; j < y.size(); ++j) out[j] = static_cast<T>(acc[static_cast<size_t>(j)]);
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  });
}

}  // namespace

KILN_REGISTER_KERNEL("", "Gemm", 1, kMaxOpset, make_gemm);
KILN_REGISTER_KERNEL("", "MatMul", 1, kMaxOpset, stateless(matmul));

}  // namespace kiln::ref
