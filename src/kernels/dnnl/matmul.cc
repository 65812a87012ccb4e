// MatMul (numpy semantics: 1-D promotion, batch broadcasting) and kiln.FusedMatMul (MatMul + bias along
// the last axis + activation, kernels/ref/fused_matmul.cc) on oneDNN's matmul primitive, float32.
//
// When B is 2-D, A's leading dimensions are one M ([B, S, K] x [K, N] is one [B*S, K] x [K, N] GEMM),
// and a constant B is pre-packed (packed_weights.h) into the layout oneDNN picks, shared by every M.
// Otherwise (batched B: attention's [B, H, S, D] x [B, H, D, S]) the operands are read in place with
// their batch dimensions broadcast by oneDNN. The bias and the activation run inside the primitive.
#include "kernels/dnnl/matmul_primitive.h"
#include "kernels/ref/gemm.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

// Pads `s` with leading 1s to `rank` dimensions.
memory::dims padded(const Shape& s, size_t rank) {
  memory::dims d(rank - s.size(), 1);
  d.insert(d.end(), s.begin(), s.end());
  return d;
}

class DnnlMatMulKernel : public Kernel {
 public:
  DnnlMatMulKernel(std::unique_ptr<Kernel> reference, FusedActivation act)
      : reference_(std::move(reference)), act_(std::move(act)) {}

  // Packs constant 2-D weights (`bias`: whether the node has a bias input).
  void set_constant_weights(const Tensor& w, bool bias) {
    if (w.dtype() != DataType::kFloat32 || w.rank() != 2 || w.size() == 0) return;
    packed_ = std::make_unique<PackedWeights>(w, plain_desc(to_dims(w.shape())), w);
    prepack(*packed_, w.dim(0), w.dim(1), bias, matmul_attr(1, false, 0, act_));
    // From here on B exists only packed; the reference path, for the shapes it takes, unpacks it.
    packed_->release_source();
  }

  bool releases_constant(size_t i) const override { return i == 1 && packed_ && packed_->released(); }

  Status run(KernelContext& ctx) const override {
    // Once the plan freed B (released weights), it reads as absent: the packed copy stands for it.
    const bool released = packed_ && packed_->released() && !ctx.tensor(1).defined();
    if (!ctx.has_input(0) || !all_float32_nonempty(ctx, {0, 2})) return fallback(ctx);
    if (!released && (!ctx.has_input(1) || !all_float32_nonempty(ctx, {1}))) return fallback(ctx);
    const Tensor& a = ctx.tensor(0);
    const Shape& b_shape = released ? packed_->shape() : ctx.tensor(1).shape();
    auto dims = ref::matmul_dims(a.shape(), b_shape);
    if (!dims.ok() || shape_size(dims->out_shape) == 0) return fallback(ctx);
    const Tensor* bias = ctx.has_input(2) ? &ctx.tensor(2) : nullptr;
    // A bias that is not one value per output column broadcasts differently: the reference does that.
    if (bias != nullptr && (bias->rank() != 1 || bias->dim(0) != dims->N || b_shape.size() == 1)) return fallback(ctx);
    Tensor y(DataType::kFloat32, dims->out_shape, Tensor::Init::kUninitialized);
    bool handled = false;
    if (b_shape.size() == 2) {
      const bool use_packed = released || (packed_ && packed_->stand_for(ctx.tensor(1)));
      const void* b = released ? nullptr : ctx.tensor(1).raw();
      KILN_ASSIGN_OR_RETURN(handled, run_2d(a, b, use_packed, bias, dims->M * shape_size(dims->batch), dims->K,
                                            dims->N, y));
    } else {
      KILN_ASSIGN_OR_RETURN(handled, run_batched(a, ctx.tensor(1), bias, *dims, y));
    }
    if (!handled) return fallback(ctx);
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  Status fallback(KernelContext& ctx) const { return run_reference(*reference_, ctx, 1, packed_.get()); }

  // The run_* return false for a case oneDNN has no implementation for (the reference takes it).

  // [M, K] x [K, N] (+ bias [N]), A's leading dimensions folded into M. `b` is unused (may be null) when
  // `use_packed`.
  Expected<bool> run_2d(const Tensor& a, const void* b, bool use_packed, const Tensor* bias, int64_t M, int64_t K,
                        int64_t N, Tensor& y) const {
    ShapeKey key;
    for (int64_t v : {int64_t{-2}, M, K, N, int64_t{bias != nullptr}, int64_t{use_packed}}) key.add(v);
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const MatMulEntry> e, cache_.get(key, [&] {
      const MatMulDescs md{plain_desc({M, K}), plain_desc({K, N}),
                           bias != nullptr ? plain_desc({1, N}) : memory::desc(), plain_desc({M, N})};
      return make_matmul_entry(
          md,
          [&](const MatMulDescs& md) {
            const dnnl::matmul::desc d(md.src, use_packed ? any_desc({K, N}) : md.weights, md.bias, md.dst);
            return dnnl::matmul::primitive_desc(d, matmul_attr(1, false, 0, act_), cpu_engine());
          },
          use_packed ? packed_.get() : nullptr);
    }));
    if (e->use_reference) return false;
    KILN_RETURN_IF_ERROR(run_matmul_entry(*e, a.raw(), b, bias != nullptr ? bias->raw() : nullptr, y.raw(), "matmul"));
    return true;
  }

  // Batched: leading dimensions broadcast (oneDNN takes up to DNNL_MAX_NDIMS, with equal ranks).
  Expected<bool> run_batched(const Tensor& a, const Tensor& b, const Tensor* bias, const ref::MatMulDims& dims,
                             Tensor& y) const {
    const size_t rank = std::max<size_t>({a.shape().size(), b.shape().size(), 2});
    if (rank > DNNL_MAX_NDIMS) return false;
    ShapeKey key;
    key.add(a.shape());
    key.add(b.shape());
    key.add(bias != nullptr ? 1 : 0);
    if (key.overflow()) return false;
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const MatMulEntry> e, cache_.get(key, [&] {
      Shape as = a.shape(), bs = b.shape();
      if (as.size() == 1) as.insert(as.begin(), 1);
      if (bs.size() == 1) bs.push_back(1);
      const memory::dims ad = padded(as, rank), bd = padded(bs, rank);
      memory::dims cd = padded(dims.batch, rank - 2);
      cd.push_back(dims.M);
      cd.push_back(dims.N);
      const MatMulDescs md{plain_desc(ad), plain_desc(bd),
                           bias != nullptr ? plain_desc(padded({dims.N}, rank)) : memory::desc(), plain_desc(cd)};
      return make_matmul_entry(
          md,
          [&](const MatMulDescs& md) {
            const dnnl::matmul::desc d(md.src, md.weights, md.bias, md.dst);
            return dnnl::matmul::primitive_desc(d, matmul_attr(1, false, 0, act_), cpu_engine());
          },
          nullptr);
    }));
    if (e->use_reference) return false;
    KILN_RETURN_IF_ERROR(
        run_matmul_entry(*e, a.raw(), b.raw(), bias != nullptr ? bias->raw() : nullptr, y.raw(), "matmul"));
    return true;
  }

  std::unique_ptr<Kernel> reference_;
  FusedActivation act_;
  std::unique_ptr<PackedWeights> packed_;  // null when B is not a 2-D float32 constant
  ShapeCache<MatMulEntry> cache_;
};

Expected<std::unique_ptr<Kernel>> make_matmul(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  auto act = parse_fused_activation(b.node);
  if (!act.ok()) return reference;  // the reference reports it
  auto kernel = std::make_unique<DnnlMatMulKernel>(std::move(reference), std::move(act).value());
  const bool bias = b.node.inputs.size() > 2 && !b.node.inputs[2].empty();
  if (const Tensor* w = b.constant(1)) kernel->set_constant_weights(*w, bias);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "MatMul", 1, kMaxOpset, kDnnlPriority, make_matmul);
KILN_REGISTER_KERNEL_PRIORITY("kiln", "FusedMatMul", 1, 1, kDnnlPriority, make_matmul);

}  // namespace kiln::dnnl_kernels
