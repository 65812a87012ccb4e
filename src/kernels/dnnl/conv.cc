// Conv and kiln.FusedConv (Conv + activation post-op) on oneDNN, float32, 1 to 3 spatial dimensions.
//
// Constant weights are reordered once, at build time, into the blocked layout oneDNN picks for them
// (format_tag::any), and the plain copy is let go (the plan frees W: releases_constant); a primitive
// for an input shape that prefers another layout shares a copy made once per layout (packed_weights.h).
// Activations stay in ONNX's plain NC(D)HW layout, except where oneDNN has only a slow implementation
// for plain activations (a "ref" one, or im2col + GEMM for a grouped/depthwise convolution,
// ~1.4 GFLOP/s): then the primitive picks its activation layout (format_tag::any) and the run reorders
// X into it and Y back out (activation_reorders.h), with the reorders cached alongside the primitive.
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "kernels/dnnl/activation_reorders.h"
#include "kernels/dnnl/common.h"
#include "kernels/dnnl/conv_primitive.h"
#include "kernels/dnnl/packed_weights.h"
#include "kernels/ref/window.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

struct ConvEntry {
  dnnl::convolution_forward primitive;
  dnnl::memory weights;  // in the primitive's layout (a PackedWeights copy, shared per layout)
  bool packed = false;   // false: the weights are the run's own W input, in plain layout
  size_t scratchpad = 0;
  bool use_reference = false;
  // Set when the primitive runs on activations in its own layout (format_tag::any).
  std::optional<ActivationReorders> reorders;
};

class DnnlConvKernel : public Kernel {
 public:
  DnnlConvKernel(std::unique_ptr<Kernel> reference, ref::WindowAttrs attrs, int64_t group, FusedActivation act)
      : reference_(std::move(reference)), attrs_(std::move(attrs)), group_(group), act_(std::move(act)) {}

  // Packs constant weights `w` once into the layout a nominal input shape prefers, and lets go of the
  // plain copy (the plan frees W: releases_constant).
  void pack(const Tensor& w) {
    if (w.rank() > 5) return;
    packed_ = pack_conv_weights(w, attrs_, group_, [this](const ConvGeometry& s) {
      return primitive_desc(s, /*any_weights=*/true).weights_desc();
    });
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
    if (x.rank() < 3 || x.rank() > 5 || w_shape.size() != x.shape().size()) return fallback(ctx);
    if (has_bias && (ctx.tensor(2).rank() != 1 || ctx.tensor(2).dim(0) != w_shape[0])) return fallback(ctx);
    std::optional<ConvGeometry> s = conv_geometry(attrs_, group_, x.shape(), w_shape, has_bias);
    if (!s) return fallback(ctx);  // invalid geometry: the reference names the problem
    ShapeKey key;
    key.add(x.shape());
    key.add(w_shape);
    key.add(has_bias ? 1 : 0);
    if (key.overflow()) return fallback(ctx);
    // The packed weights stand for W only if W is the constant they were made from.
    const bool use_packed = weights.use_packed;
    key.add(use_packed ? 1 : 0);
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const ConvEntry> e,
                          cache_.get(key, [&] { return make_entry(*s, use_packed); }));
    if (e->use_reference) return fallback(ctx);
    Tensor y(DataType::kFloat32, Shape(s->dst.begin(), s->dst.end()), Tensor::Init::kUninitialized);
    try {
      const memory src = wrap(plain_desc(s->src), x.raw());
      const memory dst = wrap(plain_desc(s->dst), y.raw());
      const memory wts = e->packed ? e->weights : wrap(plain_desc(s->weights), w.raw());
      std::optional<ActivationReorders::Run> reorders;
      if (e->reorders) reorders.emplace(*e->reorders);
      const memory& conv_src = reorders ? reorders->source(src) : src;
      const memory& conv_dst = reorders ? reorders->destination(dst) : dst;
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, conv_src}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_DST, conv_dst}};
      if (has_bias) args.emplace(DNNL_ARG_BIAS, wrap(plain_desc(s->bias), ctx.tensor(2).raw()));
      execute(e->primitive, args, e->scratchpad);
      if (reorders) reorders->finish(dst);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN convolution failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  // The reference, given W unpacked when the plan freed it.
  Status fallback(KernelContext& ctx) const { return run_reference(*reference_, ctx, 1, packed_.get()); }

  dnnl::convolution_forward::primitive_desc primitive_desc(const ConvGeometry& s, bool any_weights,
                                                           bool any_activations = false) const {
    const auto act_md = [&](const memory::dims& dims) {
      return any_activations ? memory::desc(dims, memory::data_type::f32, memory::format_tag::any) : plain_desc(dims);
    };
    const memory::desc wmd =
        any_weights ? memory::desc(s.weights, memory::data_type::f32, memory::format_tag::any) : plain_desc(s.weights);
    const memory::desc bmd = s.has_bias ? plain_desc(s.bias) : memory::desc();
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                      act_md(s.src), wmd, bmd, act_md(s.dst), s.strides, s.dilates, s.pad_l, s.pad_r);
    return dnnl::convolution_forward::primitive_desc(d, conv_attr(dnnl::post_ops(), act_), cpu_engine());
  }

  Expected<std::shared_ptr<const ConvEntry>> make_entry(const ConvGeometry& s, bool use_packed) const {
    auto e = std::make_shared<ConvEntry>();
    try {
      auto pd = primitive_desc(s, use_packed);
      if (is_slow_grouped_impl(pd, group_)) {
        // With plain activations oneDNN falls back to a slow implementation (depthwise and grouped
        // convolutions, notably): let it pick the activation layout, and reorder around it.
        try {
          auto blocked = primitive_desc(s, use_packed, /*any_activations=*/true);
          if (!is_slow_grouped_impl(blocked, group_)) {
            e->reorders.emplace(blocked.src_desc(), plain_desc(s.src), blocked.dst_desc(), plain_desc(s.dst));
            pd = blocked;
          }
        } catch (const dnnl::error&) {
          e->reorders.reset();  // keep the plain primitive
        }
      }
      e->primitive = dnnl::convolution_forward(pd);
      e->scratchpad = pd.scratchpad_desc().get_size();
      if (use_packed) {
        e->packed = true;
        e->weights = packed_->in_layout(pd.weights_desc());
      }
    } catch (const dnnl::error&) {
      e = std::make_shared<ConvEntry>();
      e->use_reference = true;  // oneDNN has no implementation for this case
    }
    return std::shared_ptr<const ConvEntry>(std::move(e));
  }

  std::unique_ptr<Kernel> reference_;
  ref::WindowAttrs attrs_;
  int64_t group_;
  FusedActivation act_;
  std::unique_ptr<PackedWeights> packed_;  // null when W is not a constant the kernel could pack
  ShapeCache<ConvEntry> cache_;
};

Expected<std::unique_ptr<Kernel>> make_conv(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  auto attrs = ref::parse_window_attrs(b.node);
  const int64_t group = b.node.attr_int("group", 1);
  auto act = parse_fused_activation(b.node);
  if (!attrs.ok() || !act.ok() || group < 1) return reference;  // the reference reports or handles it
  auto kernel =
      std::make_unique<DnnlConvKernel>(std::move(reference), std::move(attrs).value(), group, std::move(act).value());
  if (const Tensor* w = b.constant(1)) kernel->pack(*w);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "Conv", 1, kMaxOpset, kDnnlPriority, make_conv);
KILN_REGISTER_KERNEL_PRIORITY("kiln", "FusedConv", 1, 1, kDnnlPriority, make_conv);

}  // namespace kiln::dnnl_kernels
