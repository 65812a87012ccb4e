// ConvTranspose's fast kernels, chosen at build: 2-D, group 1 with a constant W goes to the matrix
// product and col2im (conv_transpose_product.h); the rest (groups, 1-D and 3-D, W given at run time)
// to oneDNN's deconvolution, here, for any stride, dilation, padding, output_padding or output_shape
// it takes. The reference computes what neither does: ref/conv_transpose.cc, which also resolves
// the geometry all three share.
//
// oneDNN 2.6 runs a deconvolution as the backward-data pass of the matching convolution. Its fast
// implementation of that pass takes only blocked activations; on ONNX's plain ones it runs im2col +
// GEMM (one GEMM per group) or a reference loop. So the primitive picks its activation layout
// (format_tag::any) and the run reorders X into it and Y back out (activation_reorders.h); the plain
// primitive runs only where no blocked one is fast, and the reference where neither is.
//
// kiln.FusedConvTranspose (ConvTranspose + activation: opt/fuse_conv_activation.cc) runs the same
// kernels, which apply the activation after the bias: the product to each part of the output as col2im
// writes it, the deconvolution in a pass over Y.
//
// Constant weights are reordered once into the layout the primitive picks (format_tag::any), and the
// plain copy is let go. ONNX's W is [C, M/group, k...], input channels first: oneDNN reads it in place
// through strides as its [M, C, k...] (or [group, M/group, C/group, k...]).
#include <memory>
#include <optional>
#include <string>

#include "kernels/dnnl/activation_reorders.h"
#include "kernels/dnnl/common.h"
#include "kernels/dnnl/conv_primitive.h"
#include "kernels/dnnl/conv_transpose_product.h"
#include "kernels/dnnl/packed_weights.h"
#include "kernels/dnnl/run_memories.h"
#include "kernels/fused_activation.h"
#include "kernels/ref/window.h"
#include "kernels/vec/binary_loops.h"
#include "kernels/vec/parallel_chunks.h"
#include "kernels/vec/unary_loops.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

// One call's dims in oneDNN's terms.
struct DeconvGeometry {
  memory::dims src, dst, strides, dilates, pad_l, pad_r;
  memory::desc plain_weights;  // ONNX's W, read in place
};

// oneDNN's view of ONNX's W ([C, M/group, k...]): logical [M, C, k...] for group 1, [group, M/group,
// C/group, k...] otherwise, over the same memory.
memory::desc onnx_weights_desc(const Shape& w, int64_t group) {
  const int64_t c = w[0], mg = w[1], cg = c / group;
  int64_t taps = 1;
  for (size_t d = 2; d < w.size(); ++d) taps *= w[d];
  memory::dims dims, strides;
  if (group > 1) {
    dims = {group, mg, cg};
    strides = {cg * mg * taps, taps, mg * taps};
  } else {
    dims = {mg, c};
    strides = {taps, mg * taps};
  }
  int64_t stride = taps;
  for (size_t d = 2; d < w.size(); ++d) {
    stride /= w[d];
    dims.push_back(w[d]);
    strides.push_back(stride);
  }
  return memory::desc(dims, memory::data_type::f32, strides);
}

std::optional<DeconvGeometry> deconv_geometry(const ref::ConvTransposeAttrs& attrs, const Shape& x, const Shape& w) {
  if (x.size() < 3 || x.size() > 5) return std::nullopt;
  auto g = ref::conv_transpose_geometry(attrs, x, w);
  if (!g.ok() || g->out_size() == 0) return std::nullopt;
  const int64_t m = w[1] * attrs.group;
  DeconvGeometry s;
  s.src = to_dims(x);
  s.dst = {x[0], m};
  append_window(*g, &s);
  s.plain_weights = onnx_weights_desc(w, attrs.group);
  return s;
}

// Y[n, m, ...] += bias[m]. oneDNN's deconvolution adds a bias in a pass of its own after the
// backward-data kernel, which took longer than that kernel on DCGAN's 16x16 -> 32x32 layer
// (0.39 -> 0.54 ms, 1 thread); this pass, on the plain Y the reorder just wrote, is a few microseconds.
void add_channel_bias(const float* bias, Tensor* y) {
  const int64_t images = y->dim(0), channels = y->dim(1), plane = y->size() / (images * channels);
  const vec::BinaryRowFn add = vec::binary_row(vec::BinaryOp::kAdd, vec::RowKind::kScalarB);
  float* data = y->data<float>();
  for (int64_t n = 0; n < images; ++n) {
    float* image = data + n * channels * plane;
    add(image, bias, image, plane, channels, plane, 1);
  }
}

struct DeconvEntry {
  Shape dst;  // Y's shape
  dnnl::deconvolution_forward primitive;
  memory weights;       // the packed constant (PackedWeights' copy in the primitive's layout)
  bool packed = false;  // false: the primitive reads the run's own W in ONNX's layout
  size_t scratchpad = 0;
  bool use_reference = false;                  // oneDNN has no fast primitive for this shape, or the geometry is bad
  std::optional<ActivationReorders> reorders;  // set when the primitive picked its activation layout
  RunMemories<3> memories;                     // plain X, Y and (unpacked) W, pointed at each run's buffers
};
constexpr size_t kSrcSlot = 0, kDstSlot = 1, kWeightsSlot = 2;

class DnnlConvTransposeKernel : public Kernel {
 public:
  DnnlConvTransposeKernel(std::unique_ptr<Kernel> reference, ref::ConvTransposeAttrs attrs,
                          std::optional<vec::UnaryFn> activation)
      : reference_(std::move(reference)), attrs_(std::move(attrs)), activation_(activation) {}

  // Packs constant weights once, in the layout a nominal input (batch 1, spatial sizes of at least 32)
  // gets, and lets go of the plain copy. Leaves them plain when that input has no geometry (an
  // output_shape made for other sizes) or oneDNN has no fast primitive for it.
  void pack(const Tensor& w) {
    if (w.dtype() != DataType::kFloat32 || w.size() == 0 || w.rank() < 3 || w.rank() > 5) return;
    Shape nominal{1, w.dim(0)};
    for (int64_t d = 2; d < w.rank(); ++d) nominal.push_back(std::max<int64_t>(32, w.dim(d) * 4));
    const std::optional<DeconvGeometry> s = deconv_geometry(attrs_, nominal, w.shape());
    if (!s) return;
    try {
      const auto pd = primitive_desc(*s, /*any_weights=*/true, /*any_activations=*/true);
      if (is_slow_grouped_impl(pd, attrs_.group)) return;
      auto packed = std::make_unique<PackedWeights>(w, s->plain_weights, w);
      packed->in_layout(pd.weights_desc());
      packed->release_source();
      packed_ = std::move(packed);
    } catch (const dnnl::error&) {
    }
  }

  bool releases_constant(size_t i) const override { return i == 1 && packed_ && packed_->released(); }

  Status run(KernelContext& ctx) const override {
    if (!all_float32_nonempty(ctx, {0, 2})) return fallback(ctx);
    const WeightsInput weights = weights_input(ctx, 1, packed_.get());
    if (weights.shape == nullptr) return fallback(ctx);
    const Tensor& x = ctx.tensor(0);
    const Tensor& w = ctx.tensor(1);
    const Shape& w_shape = *weights.shape;
    const bool has_bias = ctx.has_input(2);
    if (w_shape.size() < 2) return fallback(ctx);
    const int64_t m = w_shape[1] * attrs_.group;
    if (has_bias && (ctx.tensor(2).rank() != 1 || ctx.tensor(2).dim(0) != m)) return fallback(ctx);
    const bool use_packed = weights.use_packed;
    ShapeKey key;
    key.add(x.shape());
    key.add(w_shape);
    key.add(use_packed ? 1 : 0);
    if (key.overflow()) return fallback(ctx);
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const DeconvEntry> e,
                          cache_.get(key, [&] { return make_entry(x.shape(), w_shape, use_packed); }));
    if (e->use_reference) return fallback(ctx);  // for a bad geometry, the reference names the problem
    Tensor y(DataType::kFloat32, e->dst, Tensor::Init::kUninitialized);
    try {
      RunMemories<3>::Lease memories(e->memories);
      const memory& src = memories.bind(kSrcSlot, x.raw());
      const memory& dst = memories.bind(kDstSlot, y.raw());
      std::optional<ActivationReorders::Run> reorders;
      if (e->reorders) reorders.emplace(*e->reorders);
      ExecArgs args;
      args.add(DNNL_ARG_SRC, reorders ? reorders->source(src) : src);
      args.add(DNNL_ARG_WEIGHTS, e->packed ? e->weights : memories.bind(kWeightsSlot, w.raw()));
      args.add(DNNL_ARG_DST, reorders ? reorders->destination(dst) : dst);
      execute(e->primitive, args, e->scratchpad);
      if (reorders) reorders->finish(dst);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN deconvolution failed: ") + err.what());
    }
    if (has_bias) add_channel_bias(ctx.tensor(2).data<float>(), &y);
    if (activation_) {  // over the team, as an activation node would
      float* out = y.data<float>();
      vec::for_each_chunk(y.size(), vec::unary_parallel_grain(activation_->op), [&](int64_t begin, int64_t end) {
        vec::unary_apply(*activation_, out + begin, out + begin, end - begin);
      });
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  // The reference, given W unpacked when the plan freed it.
  Status fallback(KernelContext& ctx) const { return run_reference(*reference_, ctx, 1, packed_.get()); }

  dnnl::deconvolution_forward::primitive_desc primitive_desc(const DeconvGeometry& s, bool any_weights,
                                                             bool any_activations) const {
    const auto act_md = [&](const memory::dims& dims) {
      return any_activations ? memory::desc(dims, memory::data_type::f32, memory::format_tag::any) : plain_desc(dims);
    };
    const memory::desc wmd = any_weights
                                 ? memory::desc(s.plain_weights.dims(), memory::data_type::f32, memory::format_tag::any)
                                 : s.plain_weights;
    dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                        act_md(s.src), wmd, act_md(s.dst), s.strides, s.dilates, s.pad_l, s.pad_r);
    return dnnl::deconvolution_forward::primitive_desc(d, base_attr(), cpu_engine());
  }

  // Made on a shape's first run, so that a seen shape works its geometry out no more.
  Expected<std::shared_ptr<const DeconvEntry>> make_entry(const Shape& x, const Shape& w, bool use_packed) const {
    auto e = std::make_shared<DeconvEntry>();
    const std::optional<DeconvGeometry> geometry = deconv_geometry(attrs_, x, w);
    if (!geometry) {
      e->use_reference = true;
      return std::shared_ptr<const DeconvEntry>(std::move(e));
    }
    const DeconvGeometry& s = *geometry;
    e->dst.assign(s.dst.begin(), s.dst.end());
    try {
      // Blocked activations first (oneDNN's jit backward-data kernels, behind reorders), the plain ones
      // where those are slow or missing (group 1: im2col + SGEMM, then col2im; slower on DCGAN's layers:
      // 2.18 against 1.89 ms at batch 1, 1 thread).
      std::optional<dnnl::deconvolution_forward::primitive_desc> pd;
      try {
        auto blocked = primitive_desc(s, use_packed, /*any_activations=*/true);
        if (!is_slow_grouped_impl(blocked, attrs_.group)) {
          e->reorders.emplace(blocked.src_desc(), plain_desc(s.src), blocked.dst_desc(), plain_desc(s.dst));
          pd = blocked;
        }
      } catch (const dnnl::error&) {
        e->reorders.reset();
      }
      if (!pd) {
        auto plain = primitive_desc(s, use_packed, /*any_activations=*/false);
        if (!is_slow_grouped_impl(plain, attrs_.group)) pd = plain;
      }
      if (!pd) {
        e->use_reference = true;  // kiln's reference is no slower than oneDNN's slow paths
        return std::shared_ptr<const DeconvEntry>(std::move(e));
      }
      e->primitive = dnnl::deconvolution_forward(*pd);
      e->scratchpad = pd->scratchpad_desc().get_size();
      e->memories.init(kSrcSlot, plain_desc(s.src));
      e->memories.init(kDstSlot, plain_desc(s.dst));
      if (!use_packed) e->memories.init(kWeightsSlot, s.plain_weights);
      if (use_packed) {
        e->packed = true;
        e->weights = packed_->in_layout(pd->weights_desc());
      }
    } catch (const dnnl::error&) {
      e = std::make_shared<DeconvEntry>();
      e->use_reference = true;  // oneDNN has no implementation for this case
    }
    return std::shared_ptr<const DeconvEntry>(std::move(e));
  }

  std::unique_ptr<Kernel> reference_;
  ref::ConvTransposeAttrs attrs_;
  std::optional<vec::UnaryFn> activation_;
  std::unique_ptr<PackedWeights> packed_;  // null when W is not a constant the kernel could pack
  ShapeCache<DeconvEntry> cache_;
};

// ConvTranspose, and kiln.FusedConvTranspose with the activation it carries.
Expected<std::unique_ptr<Kernel>> make_conv_transpose(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  auto attrs = ref::parse_conv_transpose_attrs(b.node);
  if (!attrs.ok()) return reference;  // the reference reports it
  std::optional<vec::UnaryFn> activation;
  if (b.node.domain == "kiln") {
    // The reference built above has read the activation already (a bad one fails the build there), and
    // it has none for Gelu; one the unary loops do not compute would be left to it.
    const Expected<FusedActivation> act = parse_fused_activation(b.node);
    if (!act.ok()) return reference;
    activation = fused_activation_unary(*act);
    if (!act->op.empty() && !activation) return reference;
  }
  const Tensor* w = b.constant(1);
  if (w != nullptr && conv_transpose_product_applies(*attrs, *w)) {
    if (auto wt = pack_transposed_weights(*w)) {
      return make_conv_transpose_product(std::move(reference), std::move(attrs).value(), std::move(wt), activation);
    }
  }
  auto kernel = std::make_unique<DnnlConvTransposeKernel>(std::move(reference), std::move(attrs).value(), activation);
  if (w != nullptr) kernel->pack(*w);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "ConvTranspose", 1, kMaxOpset, kDnnlPriority, make_conv_transpose);
KILN_REGISTER_KERNEL_PRIORITY("kiln", "FusedConvTranspose", 1, 1, kDnnlPriority, make_conv_transpose);

}  // namespace kiln::dnnl_kernels
