// Gemm (Y = alpha * A' * B' + beta * C) and kiln.FusedGemm (Gemm + activation) on oneDNN's matmul
// primitive, float32. Operands are read in place: a transposed operand is described by its strides.
//
// Constant operands are folded at load: a constant B is pre-packed (packed_weights.h) with transB and
// alpha applied, and a constant C that is one row ([N], [1, N], a scalar) becomes oneDNN's bias, beta
// applied. A runtime C enters one of two ways: a row [N] with alpha = beta = 1 (nn.Linear) is the bias;
// any other C is first broadcast into Y, and the primitive computes Y = alpha * A'B' + beta * Y (output
// scale alpha, sum post-op beta). The activation is the last post-op.
#include "kernels/dnnl/matmul_primitive.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

enum class CMode : int64_t { kNone, kBias, kSum };

struct GemmAttrs {
  float alpha = 1, beta = 1;
  bool trans_a = false, trans_b = false;
  FusedActivation act;
};

// [rows x cols] as stored: row-major, or (transposed) the row-major [cols x rows] tensor read by columns.
memory::desc operand_desc(int64_t rows, int64_t cols, bool transposed) {
  if (!transposed) return plain_desc({rows, cols});
  return memory::desc({rows, cols}, memory::data_type::f32, memory::dims{1, rows});
}

class DnnlGemmKernel : public Kernel {
 public:
  DnnlGemmKernel(std::unique_ptr<Kernel> reference, GemmAttrs attrs)
      : reference_(std::move(reference)), attrs_(std::move(attrs)) {}

  // Folds constant B (and, with it, a constant row C) into packed weights and a bias.
  void set_constants(const Tensor* w, const Tensor* c) {
    if (w == nullptr || w->dtype() != DataType::kFloat32 || w->rank() != 2 || w->size() == 0) return;
    const int64_t K = attrs_.trans_b ? w->dim(1) : w->dim(0), N = attrs_.trans_b ? w->dim(0) : w->dim(1);
    Tensor source = *w;
    if (attrs_.alpha != 1) {  // alpha * A * B = A * (alpha * B)
      source = w->clone();
      for (int64_t i = 0; i < source.size(); ++i) source.data<float>()[i] *= attrs_.alpha;
    }
    packed_ = std::make_unique<PackedWeights>(source, operand_desc(K, N, attrs_.trans_b), *w);
    // The common case (nn.Linear): a constant row C, which becomes the bias.
    prepack(*packed_, K, N, c != nullptr, matmul_attr(1, false, 0, attrs_.act));
    // B then exists only packed, and the reference path unpacks it; not when alpha is folded in, since
    // unpacking would give the reference alpha * B.
    if (attrs_.alpha == 1) packed_->release_source();
    if (c == nullptr || c->dtype() != DataType::kFloat32 || c->rank() > 2 || c->size() == 0) return;
    const Shape& cs = c->shape();
    const int64_t cr = cs.size() == 2 ? cs[0] : 1, cc = cs.empty() ? 1 : cs.back();
    if (cr != 1 || (cc != 1 && cc != N)) return;  // C varies by row: not a bias
    folded_bias_ = Tensor(DataType::kFloat32, {1, N});
    for (int64_t j = 0; j < N; ++j) folded_bias_.data<float>()[j] = attrs_.beta * c->data<float>()[cc == 1 ? 0 : j];
    bias_source_ = *c;
  }

  bool releases_constant(size_t i) const override { return i == 1 && packed_ && packed_->released(); }

  Status run(KernelContext& ctx) const override {
    // Once the plan freed B (released weights), it reads as absent: the packed copy stands for it.
    const bool released = packed_ && packed_->released() && !ctx.tensor(1).defined();
    if (!ctx.has_input(0) || !all_float32_nonempty(ctx, {0, 2})) return fallback(ctx);
    if (!released && (!ctx.has_input(1) || !all_float32_nonempty(ctx, {1}))) return fallback(ctx);
    const Tensor& a = ctx.tensor(0);
    const Shape& b_shape = released ? packed_->shape() : ctx.tensor(1).shape();
    if (a.rank() != 2 || b_shape.size() != 2) return fallback(ctx);
    const bool ta = attrs_.trans_a, tb = attrs_.trans_b;
    const int64_t M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1);
    const int64_t N = tb ? b_shape[0] : b_shape[1], Kb = tb ? b_shape[1] : b_shape[0];
    if (K != Kb) return fallback(ctx);
    const bool use_packed = released || (packed_ && packed_->stand_for(ctx.tensor(1)));
    const void* b = released ? nullptr : ctx.tensor(1).raw();
    const float alpha = use_packed ? 1.f : attrs_.alpha;  // the packed weights carry alpha
    CMode mode = CMode::kNone;
    const Tensor* bias = nullptr;
    const Tensor* c = ctx.has_input(2) ? &ctx.tensor(2) : nullptr;
    int64_t c_row_stride = 0, c_col_stride = 0;
    if (c != nullptr) {
      const Shape& cs = c->shape();
      const int64_t cr = cs.size() == 2 ? cs[0] : 1, cc = cs.empty() ? 1 : cs.back();
      if (c->rank() > 2 || (cr != 1 && cr != M) || (cc != 1 && cc != N)) return fallback(ctx);
      if (use_packed && folded_bias_.defined() && c->raw() == bias_source_.raw()) {
        mode = CMode::kBias;
        bias = &folded_bias_;
      } else if (alpha == 1 && attrs_.beta == 1 && cr == 1 && cc == N) {
        mode = CMode::kBias;
        bias = c;
      } else {
        // beta = 0 with a C holding inf or NaN still yields NaN in the reference; leave that to it.
        if (attrs_.beta == 0) return fallback(ctx);
        mode = CMode::kSum;
        c_row_stride = cr == 1 ? 0 : cc;
        c_col_stride = cc == 1 ? 0 : 1;
      }
    }
    ShapeKey key;
    key.add(a.shape());
    key.add(b_shape);
    key.add(static_cast<int64_t>(mode));
    key.add(use_packed ? 1 : 0);
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const MatMulEntry> e, cache_.get(key, [&] {
      const MatMulDescs md{operand_desc(M, K, ta), operand_desc(K, N, tb),
                           mode == CMode::kBias ? plain_desc({1, N}) : memory::desc(), plain_desc({M, N})};
      return make_matmul_entry(
          md,
          [&](const MatMulDescs& md) {
            const memory::desc wmd = use_packed ? any_desc({K, N}) : md.weights;
            const dnnl::matmul::desc d(md.src, wmd, md.bias, md.dst);
            const dnnl::primitive_attr attr = matmul_attr(alpha, mode == CMode::kSum, attrs_.beta, attrs_.act);
            return dnnl::matmul::primitive_desc(d, attr, cpu_engine());
          },
          use_packed ? packed_.get() : nullptr);
    }));
    if (e->use_reference) return fallback(ctx);
    Tensor y(DataType::kFloat32, {M, N});
    if (mode == CMode::kSum) {
      float* out = y.data<float>();
      const float* cv = c->data<float>();
      for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j) out[i * N + j] = cv[i * c_row_stride + j * c_col_stride];
      }
    }
    KILN_RETURN_IF_ERROR(
        run_matmul_entry(*e, a.raw(), b, bias != nullptr ? bias->raw() : nullptr, y.raw(), "gemm"));
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  Status fallback(KernelContext& ctx) const { return run_reference(*reference_, ctx, 1, packed_.get()); }

  std::unique_ptr<Kernel> reference_;
  GemmAttrs attrs_;
  std::unique_ptr<PackedWeights> packed_;  // alpha * B', when B is a 2-D float32 constant
  Tensor folded_bias_;                     // [1, N]: beta * C, when C is also a constant row
  Tensor bias_source_;                     // the constant C folded_bias_ was made from
  ShapeCache<MatMulEntry> cache_;
};

Expected<std::unique_ptr<Kernel>> make_gemm(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  if (b.opset < 7 && b.node.domain.empty()) return reference;  // the legacy `broadcast` attribute
  const ir::Node& n = b.node;
  auto act = parse_fused_activation(n);
  if (!act.ok()) return reference;  // the reference reports it
  GemmAttrs attrs{n.attr_float("alpha", 1.0f), n.attr_float("beta", 1.0f), n.attr_int("transA", 0) != 0,
                  n.attr_int("transB", 0) != 0, std::move(act).value()};
  auto kernel = std::make_unique<DnnlGemmKernel>(std::move(reference), std::move(attrs));
  kernel->set_constants(b.constant(1), b.constant(2));
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "Gemm", 1, kMaxOpset, kDnnlPriority, make_gemm);
KILN_REGISTER_KERNEL_PRIORITY("kiln", "FusedGemm", 1, 1, kDnnlPriority, make_gemm);

}  // namespace kiln::dnnl_kernels
