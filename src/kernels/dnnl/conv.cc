// Conv and kiln.FusedConv (Conv + activation post-op) on oneDNN, float32, 1 to 3 spatial dimensions.
//
// Constant weights are reordered once, at build time, into the blocked layout oneDNN picks for them
// (format_tag::any); a primitive for an input shape that prefers another layout gets its own copy,
// made once when that shape is first seen. Activations stay in ONNX's plain NC(D)HW layout, except
// where oneDNN has only a slow implementation for plain activations (a "ref" one, or im2col + GEMM for a
// grouped/depthwise convolution, ~1.4 GFLOP/s): then the primitive picks its activation layout
// (format_tag::any) and the run reorders X into it and Y back out, through per-thread buffers that only
// grow, with the reorders cached alongside the primitive.
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "kernels/dnnl/common.h"
#include "kernels/ref/window.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;
using ref::WindowGeometry;

// Geometry of one convolution call, in oneDNN's terms.
struct ConvShape {
  memory::dims src, weights, bias, dst, strides, dilates, pad_l, pad_r;
  bool has_bias = false;
};

// Weights dims: [M, C/G, k...] for group 1, [G, M/G, C/G, k...] otherwise (same memory).
memory::dims weight_dims(const Shape& w, int64_t group) {
  memory::dims d(w.begin(), w.end());
  if (group == 1) return d;
  d[0] /= group;
  d.insert(d.begin(), group);
  return d;
}

struct ConvEntry {
  dnnl::convolution_forward primitive;
  dnnl::memory weights;  // in the primitive's layout (shared with the kernel's packed copy when equal)
  bool packed = false;   // false: the weights are the run's own W input, in plain layout
  size_t scratchpad = 0;
  bool use_reference = false;
  // Set when the primitive runs on blocked activations (format_tag::any): the plain input is reordered
  // into src_md before it and the output out of dst_md after it, through per-thread buffers.
  bool blocked = false;
  memory::desc src_md, dst_md;
  dnnl::reorder to_src, from_dst;
  bool reorder_src = false, reorder_dst = false;
  size_t src_scratchpad = 0, dst_scratchpad = 0;
};

// A buffer of the calling thread, one per slot, that only grows (so a seen shape allocates nothing).
void* thread_buffer(int slot, size_t bytes) {
  struct Free {
    void operator()(void* q) const { std::free(q); }
  };
  thread_local std::unique_ptr<void, Free> buffers[2];
  thread_local size_t capacity[2] = {0, 0};
  if (capacity[slot] < bytes) {
    const size_t rounded = (bytes + 4095) / 4096 * 4096;
    buffers[slot].reset(std::aligned_alloc(4096, rounded));
    if (!buffers[slot]) throw dnnl::error(dnnl_out_of_memory, "cannot allocate an activation buffer");
    capacity[slot] = rounded;
  }
  return buffers[slot].get();
}

// True for oneDNN's slow reference-like implementations ("ref", "gemm:ref").
bool is_ref_impl(const dnnl::convolution_forward::primitive_desc& pd) {
  return std::string(pd.impl_info_str()).find("ref") != std::string::npos;
}
// True for the im2col + GEMM implementations, which run a grouped convolution one small GEMM per
// group (depthwise: a 1-row GEMM per channel, ~1.4 GFLOP/s).
bool is_gemm_impl(const dnnl::convolution_forward::primitive_desc& pd) {
  return std::string(pd.impl_info_str()).find("gemm") != std::string::npos;
}

class DnnlConvKernel : public Kernel {
 public:
  DnnlConvKernel(std::unique_ptr<Kernel> reference, ref::WindowAttrs attrs, int64_t group, FusedActivation act)
      : reference_(std::move(reference)), attrs_(std::move(attrs)), group_(group), act_(std::move(act)) {}

  // Reorders constant weights `w` once into the layout a nominal input shape prefers.
  void pack(const Tensor& w) {
    try {
      if (w.dtype() != DataType::kFloat32 || w.rank() < 3 || w.rank() > 5 || w.size() == 0) return;
      Shape x{1, w.dim(1) * group_};
      for (int64_t d = 2; d < w.rank(); ++d) x.push_back(std::max<int64_t>(32, w.dim(d) * 4));
      std::optional<ConvShape> s = conv_shape(x, w.shape(), false);
      if (!s) return;
      const auto pd = primitive_desc(*s, /*any_weights=*/true);
      memory plain = wrap(plain_desc(s->weights), w.raw());
      packed_ = memory(pd.weights_desc(), cpu_engine());
      dnnl::reorder(plain, packed_).execute(thread_stream(), plain, packed_);
      thread_stream().wait();
      weights_ = w;
    } catch (const dnnl::error&) {
      packed_ = memory();  // no packing: every shape reorders (or reads plain weights)
    }
  }

  Status run(KernelContext& ctx) const override {
    if (!all_float32_nonempty(ctx, {0, 1, 2})) return reference_->run(ctx);
    const Tensor& x = ctx.tensor(0);
    const Tensor& w = ctx.tensor(1);
    const bool has_bias = ctx.has_input(2);
    if (x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank()) return reference_->run(ctx);
    if (has_bias && (ctx.tensor(2).rank() != 1 || ctx.tensor(2).dim(0) != w.dim(0))) return reference_->run(ctx);
    std::optional<ConvShape> s = conv_shape(x.shape(), w.shape(), has_bias);
    if (!s) return reference_->run(ctx);  // invalid geometry: the reference names the problem
    ShapeKey key;
    key.add(x.shape());
    key.add(w.shape());
    key.add(has_bias ? 1 : 0);
    if (key.overflow()) return reference_->run(ctx);
    // The packed weights stand for W only if W is the constant they were made from.
    const bool use_packed = packed_ && w.raw() == weights_.raw();
    key.add(use_packed ? 1 : 0);
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const ConvEntry> e, cache_.get(key, [&] { return make_entry(*s, use_packed); }));
    if (e->use_reference) return reference_->run(ctx);
    Tensor y(DataType::kFloat32, Shape(s->dst.begin(), s->dst.end()), Tensor::Init::kUninitialized);
    try {
      const memory src = wrap(plain_desc(s->src), x.raw());
      const memory dst = wrap(plain_desc(s->dst), y.raw());
      const memory wts = e->packed ? e->weights : wrap(plain_desc(s->weights), w.raw());
      memory conv_src = src, conv_dst = dst;
      if (e->reorder_src) {
        conv_src = memory(e->src_md, cpu_engine(), thread_buffer(0, e->src_md.get_size()));
        std::unordered_map<int, memory> rargs{{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, conv_src}};
        execute(e->to_src, rargs, e->src_scratchpad);
      }
      if (e->reorder_dst) conv_dst = memory(e->dst_md, cpu_engine(), thread_buffer(1, e->dst_md.get_size()));
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, conv_src}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_DST, conv_dst}};
      if (has_bias) args.emplace(DNNL_ARG_BIAS, wrap(plain_desc(s->bias), ctx.tensor(2).raw()));
      execute(e->primitive, args, e->scratchpad);
      if (e->reorder_dst) {
        std::unordered_map<int, memory> rargs{{DNNL_ARG_FROM, conv_dst}, {DNNL_ARG_TO, dst}};
        execute(e->from_dst, rargs, e->dst_scratchpad);
      }
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN convolution failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  // The oneDNN geometry for X and W, or nullopt when the reference should handle them.
  std::optional<ConvShape> conv_shape(const Shape& x, const Shape& w, bool has_bias) const {
    if (w[1] * group_ != x[1] || w[0] % group_ != 0) return std::nullopt;
    const std::vector<int64_t> kernel(w.begin() + 2, w.end());
    if (!attrs_.kernel_shape.empty() && attrs_.kernel_shape != kernel) return std::nullopt;
    auto g = ref::forward_geometry(attrs_, Shape(x.begin() + 2, x.end()), kernel);
    if (!g.ok() || g->out_size() == 0) return std::nullopt;
    ConvShape s;
    s.src = to_dims(x);
    s.weights = weight_dims(w, group_);
    s.bias = {w[0]};
    s.has_bias = has_bias;
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

  dnnl::convolution_forward::primitive_desc primitive_desc(const ConvShape& s, bool any_weights,
                                                           bool any_activations = false) const {
    const auto act_md = [&](const memory::dims& dims) {
      return any_activations ? memory::desc(dims, memory::data_type::f32, memory::format_tag::any) : plain_desc(dims);
    };
    const memory::desc wmd =
        any_weights ? memory::desc(s.weights, memory::data_type::f32, memory::format_tag::any) : plain_desc(s.weights);
    const memory::desc bmd = s.has_bias ? plain_desc(s.bias) : memory::desc();
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                      act_md(s.src), wmd, bmd, act_md(s.dst), s.strides, s.dilates, s.pad_l,
                                      s.pad_r);
    dnnl::primitive_attr attr = base_attr();
    if (!act_.op.empty()) {
      dnnl::post_ops ops;
      append_activation(act_, &ops);
      attr.set_post_ops(ops);
    }
    return dnnl::convolution_forward::primitive_desc(d, attr, cpu_engine());
  }

  Expected<std::shared_ptr<const ConvEntry>> make_entry(const ConvShape& s, bool use_packed) const {
    auto e = std::make_shared<ConvEntry>();
    try {
      auto pd = primitive_desc(s, use_packed);
      if (is_ref_impl(pd) || (group_ > 1 && is_gemm_impl(pd))) {
        // With plain activations oneDNN falls back to a slow implementation (depthwise and grouped
        // convolutions, notably): let it pick the activation layout, and reorder around it.
        try {
          auto blocked = primitive_desc(s, use_packed, /*any_activations=*/true);
          if (!is_ref_impl(blocked) && !is_gemm_impl(blocked)) {
            const memory::desc src_plain = plain_desc(s.src), dst_plain = plain_desc(s.dst);
            e->src_md = blocked.src_desc();
            e->dst_md = blocked.dst_desc();
            e->reorder_src = !(e->src_md == src_plain);
            e->reorder_dst = !(e->dst_md == dst_plain);
            if (e->reorder_src) {
              const dnnl::reorder::primitive_desc rpd(cpu_engine(), src_plain, cpu_engine(), e->src_md, base_attr());
              e->to_src = dnnl::reorder(rpd);
              e->src_scratchpad = rpd.scratchpad_desc().get_size();
            }
            if (e->reorder_dst) {
              const dnnl::reorder::primitive_desc rpd(cpu_engine(), e->dst_md, cpu_engine(), dst_plain, base_attr());
              e->from_dst = dnnl::reorder(rpd);
              e->dst_scratchpad = rpd.scratchpad_desc().get_size();
            }
            e->blocked = true;
            pd = blocked;
          }
        } catch (const dnnl::error&) {
          e->blocked = e->reorder_src = e->reorder_dst = false;  // keep the plain primitive
        }
      }
      e->primitive = dnnl::convolution_forward(pd);
      e->scratchpad = pd.scratchpad_desc().get_size();
      if (use_packed) {
        e->packed = true;
        if (pd.weights_desc() == packed_.get_desc()) {
          e->weights = packed_;
        } else {  // this shape prefers another layout: reorder the constant once more, for it
          memory plain = wrap(plain_desc(s.weights), weights_.raw());
          e->weights = memory(pd.weights_desc(), cpu_engine());
          dnnl::reorder(plain, e->weights).execute(thread_stream(), plain, e->weights);
          thread_stream().wait();
        }
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
  Tensor weights_;  // the constant W packed_ was made from (shares the model's storage)
  memory packed_;
  ShapeCache<ConvEntry> cache_;
};

Expected<std::unique_ptr<Kernel>> make_conv(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  auto attrs = ref::parse_window_attrs(b.node);
  const int64_t group = b.node.attr_int("group", 1);
  auto act = parse_fused_activation(b.node);
  if (!attrs.ok() || !act.ok() || group < 1) return reference;  // the reference reports or handles it
  auto kernel = std::make_unique<DnnlConvKernel>(std::move(reference), std::move(attrs).value(), group,
                                                 std::move(act).value());
  if (const Tensor* w = b.constant(1)) kernel->pack(*w);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "Conv", 1, kMaxOpset, kDnnlPriority, make_conv);
KILN_REGISTER_KERNEL_PRIORITY("kiln", "FusedConv", 1, 1, kDnnlPriority, make_conv);

}  // namespace kiln::dnnl_kernels
