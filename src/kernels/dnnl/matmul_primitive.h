// What the oneDNN MatMul and Gemm kernels cache per input shape: the matmul primitive and the weights
// it runs on when those were pre-packed.
#pragma once

#include <memory>

#include "kernels/dnnl/common.h"
#include "kernels/dnnl/packed_weights.h"

namespace kiln::dnnl_kernels {

// How the run's operands lie in memory (bias: a zero desc when there is none).
struct MatMulDescs {
  dnnl::memory::desc src, weights, bias, dst;
};

struct MatMulEntry {
  dnnl::matmul primitive;
  size_t scratchpad = 0;
  MatMulDescs md;               // kept so a run builds no descriptor
  dnnl::memory packed_weights;  // set when the primitive runs on pre-packed constant weights
  bool use_reference = false;   // oneDNN has no implementation for this case
};

// Builds the primitive from make_pd(md) (and, when `packed` is given, fetches the weights in the
// layout it picked), or an entry that sends this shape to the reference when oneDNN has none.
template <typename MakePd>
Expected<std::shared_ptr<const MatMulEntry>> make_matmul_entry(const MatMulDescs& md, MakePd&& make_pd,
                                                               const PackedWeights* packed) {
  auto e = std::make_shared<MatMulEntry>();
  try {
    const dnnl::matmul::primitive_desc pd = make_pd(md);
    e->primitive = dnnl::matmul(pd);
    e->scratchpad = pd.scratchpad_desc().get_size();
    e->md = md;
    if (packed != nullptr) e->packed_weights = packed->in_layout(pd.weights_desc());
  } catch (const dnnl::error&) {
    e = std::make_shared<MatMulEntry>();
    e->use_reference = true;
  }
  return std::shared_ptr<const MatMulEntry>(std::move(e));
}

// Runs the entry's primitive on A, B (unused when the weights are packed), the bias (null: none) and Y.
// Errors name `what` ("matmul", "gemm").
inline Status run_matmul_entry(const MatMulEntry& e, const void* a, const void* b, const void* bias, void* y,
                               const char* what) {
  try {
    const dnnl::memory src = wrap(e.md.src, a), dst = wrap(e.md.dst, y);
    const dnnl::memory weights = e.packed_weights ? e.packed_weights : wrap(e.md.weights, b);
    const dnnl::memory bias_memory = bias != nullptr ? wrap(e.md.bias, bias) : dnnl::memory();
    ExecArgs args;
    args.add(DNNL_ARG_SRC, src);
    args.add(DNNL_ARG_WEIGHTS, weights);
    args.add(DNNL_ARG_DST, dst);
    if (bias != nullptr) args.add(DNNL_ARG_BIAS, bias_memory);
    execute(e.primitive, args, e.scratchpad);
  } catch (const dnnl::error& err) {
    return Status::Internal(std::string("oneDNN ") + what + " failed: " + err.what());
  }
  return Status::OK();
}

// Packs `packed` at load, in the layout a batch-1 ([1, K] x [K, N]) primitive with these attributes
// picks, so the first run does not pay for it; a shape that prefers another layout packs its own copy
// when first seen. `bias`: whether the primitive adds one. Best effort: on failure the first run packs.
void prepack(const PackedWeights& packed, int64_t K, int64_t N, bool bias, const dnnl::primitive_attr& attr);

// A descriptor whose layout the primitive chooses (format_tag::any): for weights that get pre-packed.
inline dnnl::memory::desc any_desc(const dnnl::memory::dims& dims) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
}

// The attributes of a matmul: user scratchpad, output scale alpha (if not 1), then the post-ops: a sum
// with scale beta (if `sum`), then the fused activation.
inline dnnl::primitive_attr matmul_attr(float alpha, bool sum, float beta, const FusedActivation& act) {
  dnnl::primitive_attr attr = base_attr();
  if (alpha != 1) attr.set_output_scales(0, {alpha});
  dnnl::post_ops ops;
  if (sum) ops.append_sum(beta);
  append_activation(act, &ops);
  if (ops.len() > 0) attr.set_post_ops(ops);
  return attr;
}

}  // namespace kiln::dnnl_kernels
