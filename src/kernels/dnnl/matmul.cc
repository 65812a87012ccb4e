// MatMul (numpy semantics: 1-D promotion, batch broadcasting) and Gemm (transA/B, alpha, beta, C) on
// oneDNN's matmul primitive, float32. Operands are read in place: a transposed operand is described
// by its strides, not copied.
#include <unordered_map>

#include "kernels/dnnl/common.h"
#include "kernels/ref/gemm.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

struct MatMulEntry {
  dnnl::matmul primitive;
  size_t scratchpad = 0;
  bool use_reference = false;
};

// Builds the primitive, or an entry that sends this shape to the reference when oneDNN has none.
template <typename MakePd>
std::shared_ptr<const MatMulEntry> make_entry(MakePd&& make_pd) {
  auto e = std::make_shared<MatMulEntry>();
  try {
    const dnnl::matmul::primitive_desc pd = make_pd();
    e->primitive = dnnl::matmul(pd);
    e->scratchpad = pd.scratchpad_desc().get_size();
  } catch (const dnnl::error&) {
    e->use_reference = true;
  }
  return e;
}

// Pads `s` with leading 1s to `rank` dimensions.
memory::dims padded(const Shape& s, size_t rank) {
  memory::dims d(rank - s.size(), 1);
  d.insert(d.end(), s.begin(), s.end());
  return d;
}

// ---------------------------------------------------------------------------------------------------
// MatMul

class DnnlMatMulKernel : public Kernel {
 public:
  explicit DnnlMatMulKernel(std::unique_ptr<Kernel> reference) : reference_(std::move(reference)) {}

  Status run(KernelContext& ctx) const override {
    if (!all_float32_nonempty(ctx, {0, 1}) || !ctx.has_input(0) || !ctx.has_input(1)) return reference_->run(ctx);
    const Tensor& a = ctx.tensor(0);
    const Tensor& b = ctx.tensor(1);
    auto dims = ref::matmul_dims(a.shape(), b.shape());
    if (!dims.ok() || shape_size(dims->out_shape) == 0) return reference_->run(ctx);
    // oneDNN's matmul takes up to 12 dimensions (DNNL_MAX_NDIMS) with equal ranks.
    Shape as = a.shape(), bs = b.shape();
    if (as.size() == 1) as.insert(as.begin(), 1);
    if (bs.size() == 1) bs.push_back(1);
    const size_t rank = std::max(as.size(), bs.size());
    if (rank > DNNL_MAX_NDIMS) return reference_->run(ctx);
    ShapeKey key;
    key.add(a.shape());
    key.add(b.shape());
    if (key.overflow()) return reference_->run(ctx);
    const memory::dims ad = padded(as, rank), bd = padded(bs, rank);
    memory::dims cd = padded(dims->batch, rank - 2);
    cd.push_back(dims->M);
    cd.push_back(dims->N);
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const MatMulEntry> e, cache_.get(key, [&] {
      return Expected<std::shared_ptr<const MatMulEntry>>(make_entry([&] {
        dnnl::matmul::desc d(plain_desc(ad), plain_desc(bd), plain_desc(cd));
        return dnnl::matmul::primitive_desc(d, base_attr(), cpu_engine());
      }));
    }));
    if (e->use_reference) return reference_->run(ctx);
    Tensor y(DataType::kFloat32, dims->out_shape);
    try {
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(plain_desc(ad), a.raw())},
                                           {DNNL_ARG_WEIGHTS, wrap(plain_desc(bd), b.raw())},
                                           {DNNL_ARG_DST, wrap(plain_desc(cd), y.raw())}};
      execute(e->primitive, args, e->scratchpad);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN matmul failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> reference_;
  ShapeCache<MatMulEntry> cache_;
};

Expected<std::unique_ptr<Kernel>> make_matmul(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  return std::unique_ptr<Kernel>(std::make_unique<DnnlMatMulKernel>(std::move(reference)));
}

// ---------------------------------------------------------------------------------------------------
// Gemm: Y = alpha * A' * B' + beta * C.
//
// C enters one of two ways: a row vector with alpha = beta = 1 (nn.Linear) is oneDNN's bias; any other
// C is first broadcast into Y, and the primitive then computes Y = alpha * A'B' + beta * Y (output
// scale alpha, sum post-op beta).

enum class CMode : int64_t { kNone, kBias, kSum };

class DnnlGemmKernel : public Kernel {
 public:
  DnnlGemmKernel(std::unique_ptr<Kernel> reference, float alpha, float beta, bool trans_a, bool trans_b)
      : reference_(std::move(reference)), alpha_(alpha), beta_(beta), trans_a_(trans_a), trans_b_(trans_b) {}

  Status run(KernelContext& ctx) const override {
    if (!all_float32_nonempty(ctx, {0, 1, 2}) || !ctx.has_input(0) || !ctx.has_input(1)) return reference_->run(ctx);
    const Tensor& a = ctx.tensor(0);
    const Tensor& b = ctx.tensor(1);
    if (a.rank() != 2 || b.rank() != 2) return reference_->run(ctx);
    const int64_t M = trans_a_ ? a.dim(1) : a.dim(0), K = trans_a_ ? a.dim(0) : a.dim(1);
    const int64_t N = trans_b_ ? b.dim(0) : b.dim(1), Kb = trans_b_ ? b.dim(1) : b.dim(0);
    if (K != Kb) return reference_->run(ctx);
    CMode mode = CMode::kNone;
    int64_t c_row_stride = 0, c_col_stride = 0;
    const Tensor* c = ctx.has_input(2) ? &ctx.tensor(2) : nullptr;
    if (c != nullptr) {
      // beta = 0 with a C holding inf or NaN still yields NaN in the reference; leave that to it.
      if (c->rank() > 2 || beta_ == 0) return reference_->run(ctx);
      const Shape& cs = c->shape();
      const int64_t cr = cs.size() == 2 ? cs[0] : 1, cc = cs.empty() ? 1 : cs.back();
      if ((cr != 1 && cr != M) || (cc != 1 && cc != N)) return reference_->run(ctx);
      c_row_stride = cr == 1 ? 0 : cc;
      c_col_stride = cc == 1 ? 0 : 1;
      mode = (alpha_ == 1 && beta_ == 1 && cr == 1 && cc == N) ? CMode::kBias : CMode::kSum;
    }
    ShapeKey key;
    key.add(a.shape());
    key.add(b.shape());
    key.add(static_cast<int64_t>(mode));
    const memory::desc amd = operand_desc(M, K, trans_a_), bmd = operand_desc(K, N, trans_b_);
    const memory::desc ymd = plain_desc({M, N}), biasmd = plain_desc({1, N});
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const MatMulEntry> e, cache_.get(key, [&] {
      return Expected<std::shared_ptr<const MatMulEntry>>(make_entry([&] {
        dnnl::primitive_attr attr = base_attr();
        if (alpha_ != 1) attr.set_output_scales(0, {alpha_});
        if (mode == CMode::kSum) {
          dnnl::post_ops ops;
          ops.append_sum(beta_);
          attr.set_post_ops(ops);
        }
        const dnnl::matmul::desc d = mode == CMode::kBias ? dnnl::matmul::desc(amd, bmd, biasmd, ymd)
                                                          : dnnl::matmul::desc(amd, bmd, ymd);
        return dnnl::matmul::primitive_desc(d, attr, cpu_engine());
      }));
    }));
    if (e->use_reference) return reference_->run(ctx);
    Tensor y(DataType::kFloat32, {M, N});
    if (mode == CMode::kSum) {
      float* out = y.data<float>();
      const float* cv = c->data<float>();
      for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j) out[i * N + j] = cv[i * c_row_stride + j * c_col_stride];
      }
    }
    try {
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(amd, a.raw())},
                                           {DNNL_ARG_WEIGHTS, wrap(bmd, b.raw())},
                                           {DNNL_ARG_DST, wrap(ymd, y.raw())}};
      if (mode == CMode::kBias) args.emplace(DNNL_ARG_BIAS, wrap(biasmd, c->raw()));
      execute(e->primitive, args, e->scratchpad);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN gemm failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  // [rows x cols] as stored: row-major, or (transposed) the row-major [cols x rows] tensor read by columns.
  static memory::desc operand_desc(int64_t rows, int64_t cols, bool transposed) {
    if (!transposed) return plain_desc({rows, cols});
    return memory::desc({rows, cols}, memory::data_type::f32, memory::dims{1, rows});
  }

  std::unique_ptr<Kernel> reference_;
  float alpha_, beta_;
  bool trans_a_, trans_b_;
  ShapeCache<MatMulEntry> cache_;
};

Expected<std::unique_ptr<Kernel>> make_gemm(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  if (b.opset < 7) return reference;  // the legacy `broadcast` attribute: left to the reference
  const ir::Node& n = b.node;
  return std::unique_ptr<Kernel>(std::make_unique<DnnlGemmKernel>(std::move(reference), n.attr_float("alpha", 1.0f),
                                                                  n.attr_float("beta", 1.0f),
                                                                  n.attr_int("transA", 0) != 0,
                                                                  n.attr_int("transB", 0) != 0));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "MatMul", 1, kMaxOpset, kDnnlPriority, make_matmul);
KILN_REGISTER_KERNEL_PRIORITY("", "Gemm", 1, kMaxOpset, kDnnlPriority, make_gemm);

}  // namespace kiln::dnnl_kernels
