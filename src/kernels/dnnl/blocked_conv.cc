// kiln.BlockedConv on oneDNN (the operator: kernels/blocked_conv_attrs.h), float32, 2-D. Activations
// are oneDNN's nChw16c, which is exactly kiln's blocked tensor [N, ceil(C/16), H, W, 16], so X and Y
// are handed to the primitive as they are: no reorder around the call. Constant weights are packed
// once into the layout oneDNN picks (format_tag::any). A residual Sum becomes a binary-add post-op
// that reads Sum where it lies (oneDNN's jit, 1x1 and depthwise kernels all take it; its sum post-op
// would need Y to start as a copy of Sum, one more pass over memory), then the activation.
//
// 3x3 stride-1 convolutions with packed weights run oneDNN's Winograd kernels (F(4,3) / F(2,3)) where
// it has them: measured 2-2.8x faster than its direct kernel on ResNet's 3x3 layers, 1 thread, batch 1
// and 8. Winograd rounds differently (transforms in float32); the differential cases bound the
// difference like any reordered sum. Those kernels take the residual only as the sum post-op, so there
// Y starts as a copy of Sum.
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_layout.h"
#include "kernels/dnnl/common.h"
#include "kernels/dnnl/serial_below.h"
#include "kernels/ref/window.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;

// Geometry of one call, in oneDNN's terms (logical NCHW dims; the layout is in the descriptors).
struct BlockedConvShape {
  memory::dims src, weights, bias, dst, strides, dilates, pad_l, pad_r;
  bool has_bias = false, has_sum = false;
};

struct BlockedConvEntry {
  dnnl::convolution_forward primitive;
  memory weights;       // packed for this primitive (shared with the kernel's copy when the layouts match)
  bool packed = false;  // false: the run's W input in plain layout
  size_t scratchpad = 0;
  bool use_reference = false;
  bool sum_in_place = false;  // the residual is oneDNN's sum post-op: Y must hold a copy of Sum first
};

// True for oneDNN's slow reference implementations.
bool is_ref_impl(const dnnl::convolution_forward::primitive_desc& pd) {
  return std::string(pd.impl_info_str()).find("ref") != std::string::npos;
}

class DnnlBlockedConvKernel : public Kernel {
 public:
  DnnlBlockedConvKernel(std::unique_ptr<Kernel> reference, ref::WindowAttrs attrs, int64_t group, FusedActivation act,
                        bool plain_input)
      : reference_(std::move(reference)),
        attrs_(std::move(attrs)),
        group_(group),
        act_(std::move(act)),
        plain_input_(plain_input) {}

  // Reorders constant 2-D weights `w` once into the layout a nominal input shape prefers.
  void pack(const Tensor& w) {
    try {
      if (w.dtype() != DataType::kFloat32 || w.rank() != 4 || w.size() == 0) return;
      const int64_t c = w.dim(1) * group_;
      const Shape x{1, c, std::max<int64_t>(32, w.dim(2) * 4), std::max<int64_t>(32, w.dim(3) * 4)};
      std::optional<BlockedConvShape> s = conv_shape(x, w.shape(), false, false);
      if (!s) return;
      const auto pd = primitive_desc(*s, /*any_weights=*/true);
      memory plain = wrap(plain_desc(s->weights), w.raw());
      packed_ = memory(pd.weights_desc(), cpu_engine());
      dnnl::reorder(plain, packed_).execute(thread_stream(), plain, packed_);
      thread_stream().wait();
      // Only the packed copy is kept: the plan frees W (releases_constant), and the reference path and
      // other layouts unpack it.
      weights_address_ = w.raw();
      weights_shape_ = w.shape();
    } catch (const dnnl::error&) {
      packed_ = memory();
    }
  }

  bool releases_constant(size_t i) const override { return i == 1 && packed_; }

  Status run(KernelContext& ctx) const override {
    // Once the plan freed W, it reads as absent: the packed copy stands for it.
    const bool absent = packed_ && !ctx.tensor(1).defined();
    if (!all_float32_nonempty(ctx, {0, 2, 3})) return fallback(ctx);
    if (!absent && !all_float32_nonempty(ctx, {1})) return fallback(ctx);
    const Tensor& x = ctx.tensor(0);
    const Tensor& w = ctx.tensor(1);
    const Shape& w_shape = absent ? weights_shape_ : w.shape();
    const bool has_bias = ctx.has_input(2), has_sum = ctx.has_input(3);
    if (w_shape.size() != 4) return fallback(ctx);
    const int64_t c = w_shape[1] * group_;
    const Shape& xs = x.shape();
    const bool x_ok = plain_input_ ? (x.rank() == 4 && xs[1] == c)
                                   : (x.rank() == 5 && xs[4] == kChannelBlock && xs[1] == channel_blocks(c));
    if (!x_ok) return fallback(ctx);  // the reference names the problem
    if (has_bias && (ctx.tensor(2).rank() != 1 || ctx.tensor(2).dim(0) != w_shape[0])) return fallback(ctx);
    std::optional<BlockedConvShape> s = conv_shape({xs[0], c, xs[2], xs[3]}, w_shape, has_bias, has_sum);
    if (!s) return fallback(ctx);
    const Shape y_shape = blocked_shape(Shape(s->dst.begin(), s->dst.end()));
    if (has_sum && ctx.tensor(3).shape() != y_shape) return fallback(ctx);  // broadcasting Sum
    ShapeKey key;
    key.add(x.shape());
    key.add(w_shape);
    key.add(has_bias ? 1 : 0);
    key.add(has_sum ? 1 : 0);
    const bool use_packed = absent || (packed_ && w.raw() == weights_address_);
    key.add(use_packed ? 1 : 0);
    if (key.overflow()) return fallback(ctx);
    // Output elements times multiply-adds each (C/group * kh * kw); covers creation and execution.
    const SerialBelow serial(shape_size(Shape(s->dst.begin(), s->dst.end())) * (shape_size(w_shape) / w_shape[0]));
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const BlockedConvEntry> e,
                          cache_.get(key, [&] { return make_entry(*s, use_packed); }));
    if (e->use_reference) return fallback(ctx);
    Tensor y(DataType::kFloat32, y_shape, Tensor::Init::kUninitialized);
    if (e->sum_in_place) std::memcpy(y.raw(), ctx.tensor(3).raw(), y.bytes());
    try {
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(src_desc(s->src), x.raw())},
                                           {DNNL_ARG_WEIGHTS, e->packed ? e->weights : wrap(plain_desc(s->weights), w.raw())},
                                           {DNNL_ARG_DST, wrap(blocked_desc(s->dst), y.raw())}};
      if (has_bias) args.emplace(DNNL_ARG_BIAS, wrap(plain_desc(s->bias), ctx.tensor(2).raw()));
      if (has_sum && !e->sum_in_place) {
        args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, wrap(blocked_desc(s->dst), ctx.tensor(3).raw()));
      }
      execute(e->primitive, args, e->scratchpad);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN blocked convolution failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  // The reference, given W unpacked when the plan freed it.
  Status fallback(KernelContext& ctx) const {
    if (!packed_ || ctx.tensor(1).defined()) return reference_->run(ctx);
    std::vector<const Value*> inputs(ctx.num_inputs());
    for (size_t k = 0; k < inputs.size(); ++k) inputs[k] = ctx.has_input(k) ? &ctx.input(k) : nullptr;
    Value w;
    try {
      w = Value(unpacked_weights());
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN could not unpack convolution weights: ") + err.what());
    }
    inputs[1] = &w;
    std::vector<Value> outputs(ctx.num_outputs());
    KernelContext unpacked(inputs, &outputs, ctx.frame());
    KILN_RETURN_IF_ERROR(reference_->run(unpacked));
    for (size_t k = 0; k < outputs.size(); ++k) ctx.set_output(k, std::move(outputs[k]));
    return Status::OK();
  }

  // W in plain OIHW, reordered back from packed_. Throws dnnl::error.
  Tensor unpacked_weights() const {
    Tensor w(DataType::kFloat32, weights_shape_);
    memory plain = wrap(plain_desc(packed_.get_desc().dims()), w.raw());  // [G, O/G, I, H, W] when grouped
    memory from = packed_;
    dnnl::reorder(from, plain).execute(thread_stream(), from, plain);
    thread_stream().wait();
    return w;
  }

  static memory::desc blocked_desc(const memory::dims& dims) {
    return memory::desc(dims, memory::data_type::f32, tag::nChw16c);
  }
  memory::desc src_desc(const memory::dims& dims) const {
    return plain_input_ ? plain_desc(dims) : blocked_desc(dims);
  }

  // The oneDNN geometry for logical X [N, C, H, W] and W, or nullopt when the reference should run.
  std::optional<BlockedConvShape> conv_shape(const Shape& x, const Shape& w, bool has_bias, bool has_sum) const {
    if (w[0] % group_ != 0) return std::nullopt;
    const std::vector<int64_t> kernel(w.begin() + 2, w.end());
    if (!attrs_.kernel_shape.empty() && attrs_.kernel_shape != kernel) return std::nullopt;
    auto g = ref::forward_geometry(attrs_, Shape(x.begin() + 2, x.end()), kernel);
    if (!g.ok() || g->out_size() == 0) return std::nullopt;
    BlockedConvShape s;
    s.src = to_dims(x);
    s.weights = memory::dims(w.begin(), w.end());
    if (group_ > 1) {  // [G, M/G, C/G, kh, kw]
      s.weights[0] /= group_;
      s.weights.insert(s.weights.begin(), group_);
    }
    s.bias = {w[0]};
    s.has_bias = has_bias;
    s.has_sum = has_sum;
    s.dst = {x[0], w[0]};
    for (size_t d = 0; d < g->rank(); ++d) {
      s.dst.push_back(g->out[d]);
      s.strides.push_back(g->stride[d]);
      s.dilates.push_back(g->dilation[d] - 1);  // oneDNN counts the gaps, ONNX the step
      s.pad_l.push_back(g->pad_begin[d]);
      s.pad_r.push_back(g->pad_end[d]);
    }
    return s;
  }

  // Winograd applies to 3x3, stride 1, undilated, ungrouped convolutions on blocked X.
  bool winograd_shape(const BlockedConvShape& s) const {
    return group_ == 1 && !plain_input_ && s.weights.size() == 4 && s.weights[2] == 3 && s.weights[3] == 3 &&
           s.strides == memory::dims{1, 1} && s.dilates == memory::dims{0, 0};
  }

  // Throws dnnl::error when oneDNN has no implementation. Winograd takes the residual as the sum
  // post-op (in place), the direct kernels as a binary add (read where it lies).
  dnnl::convolution_forward::primitive_desc primitive_desc(const BlockedConvShape& s, bool any_weights,
                                                           bool winograd = false) const {
    const memory::desc wmd =
        any_weights ? memory::desc(s.weights, memory::data_type::f32, tag::any) : plain_desc(s.weights);
    const memory::desc bmd = s.has_bias ? plain_desc(s.bias) : memory::desc();
    const dnnl::algorithm alg = winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, alg, src_desc(s.src), wmd, bmd,
                                      blocked_desc(s.dst), s.strides, s.dilates, s.pad_l, s.pad_r);
    dnnl::post_ops ops;
    if (s.has_sum && winograd) ops.append_sum(1.f);
    if (s.has_sum && !winograd) ops.append_binary(dnnl::algorithm::binary_add, blocked_desc(s.dst));  // post-op 0
    if (act_.op == kSwish) {
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.f, 0.f);  // x * sigmoid(1 * x)
    } else {
      append_activation(act_, &ops);
    }
    dnnl::primitive_attr attr = base_attr();
    attr.set_post_ops(ops);
    return dnnl::convolution_forward::primitive_desc(d, attr, cpu_engine());
  }

  Expected<std::shared_ptr<const BlockedConvEntry>> make_entry(const BlockedConvShape& s, bool use_packed) const {
    if (use_packed && winograd_shape(s)) {
      try {
        return build_entry(s, use_packed, /*winograd=*/true);
      } catch (const dnnl::error&) {  // no Winograd kernel for this shape or these post-ops: direct
      }
    }
    try {
      return build_entry(s, use_packed, /*winograd=*/false);
    } catch (const dnnl::error&) {
      auto e = std::make_shared<BlockedConvEntry>();
      e->use_reference = true;  // oneDNN has no implementation for this case
      return std::shared_ptr<const BlockedConvEntry>(std::move(e));
    }
  }

  // The constant weights in layout `md`: packed_, or a copy packed for another layout once and shared by
  // every shape that wants that layout (Winograd's layout depends on the shape; one copy per layout,
  // not per shape, keeps memory bounded). Runs under cache_'s lock (from make_entry). Throws dnnl::error.
  memory packed_weights(const memory::desc& md) const {
    if (md == packed_.get_desc()) return packed_;
    for (const memory& m : other_layouts_) {
      if (m.get_desc() == md) return m;
    }
    // From plain OIHW (oneDNN reorders into Winograd layouts only from plain ones).
    const Tensor w = unpacked_weights();
    memory plain = wrap(plain_desc(md.dims()), w.raw());
    memory packed(md, cpu_engine());
    dnnl::reorder(plain, packed).execute(thread_stream(), plain, packed);
    thread_stream().wait();
    if (other_layouts_.size() < kMaxOtherLayouts) other_layouts_.push_back(packed);
    return packed;
  }

  // The primitive and weights for one shape. Throws dnnl::error.
  std::shared_ptr<const BlockedConvEntry> build_entry(const BlockedConvShape& s, bool use_packed, bool winograd) const {
    auto e = std::make_shared<BlockedConvEntry>();
    {
      const auto pd = primitive_desc(s, use_packed, winograd);
      if (winograd && is_ref_impl(pd)) throw dnnl::error(dnnl_unimplemented, "no fast Winograd kernel");
      e->sum_in_place = winograd && s.has_sum;
      e->primitive = dnnl::convolution_forward(pd);
      e->scratchpad = pd.scratchpad_desc().get_size();
      if (use_packed) {
        e->packed = true;
        e->weights = packed_weights(pd.weights_desc());
      }
    }
    return e;
  }

  std::unique_ptr<Kernel> reference_;
  ref::WindowAttrs attrs_;
  int64_t group_;
  FusedActivation act_;
  bool plain_input_;
  // The constant W packed_ was made from: its address (while a run can pass it, the model holds it, so
  // the address is not reused) and shape.
  const void* weights_address_ = nullptr;
  Shape weights_shape_;
  memory packed_;
  // Copies of the constant weights in other layouts (packed_weights), guarded by cache_'s lock.
  static constexpr size_t kMaxOtherLayouts = 4;
  mutable std::vector<memory> other_layouts_;
  ShapeCache<BlockedConvEntry> cache_;
};

Expected<std::unique_ptr<Kernel>> make_blocked_conv(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  auto attrs = ref::parse_window_attrs(b.node);
  auto act = parse_blocked_conv_activation(b.node);
  const int64_t group = b.node.attr_int("group", 1);
  if (!attrs.ok() || !act.ok() || group < 1) return reference;  // the reference reports or handles it
  auto kernel = std::make_unique<DnnlBlockedConvKernel>(std::move(reference), std::move(attrs).value(), group,
                                                        std::move(act).value(), blocked_conv_plain_input(b.node));
  if (const Tensor* w = b.constant(1)) kernel->pack(*w);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedConv", 1, 1, kDnnlPriority, make_blocked_conv);

}  // namespace kiln::dnnl_kernels
