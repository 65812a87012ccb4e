// kiln.BlockedConv on oneDNN (the operator: kernels/blocked_conv_attrs.h), float32, 2-D. Activations
// are oneDNN's nChw8c / nChw16c, which is exactly kiln's blocked tensor [N, ceil(C/B), H, W, B] (B from
// X, or the node's channel_block for plain X), so X and Y are handed to the primitive as they are: no
// reorder around the call. Constant weights are packed
// once into the layout oneDNN picks (format_tag::any; packed_weights.h keeps one copy per layout, and
// only that: the plan frees the plain W). A residual Sum becomes a binary-add post-op that reads Sum
// where it lies (oneDNN's jit, 1x1 and depthwise kernels all take it; its sum post-op would need Y to
// start as a copy of Sum, one more pass over memory), then the activation.
//
// 3x3 stride-1 convolutions with constant weights run oneDNN's Winograd kernels (F(4,3) / F(2,3)) where
// it has them: measured 2-2.8x faster than its direct kernel on ResNet's 3x3 layers, 1 thread, batch 1
// and 8. They are AVX-512 kernels on nChw16c only: with 8-channel blocks the layer runs direct.
// Winograd rounds differently (transforms in float32); the differential cases bound the
// difference like any reordered sum. Those kernels take the residual only as the sum post-op, so there
// Y starts as a copy of Sum. Their weights take 1.8x (F(2,3)) or 4x (F(4,3)) the plain ones, in a
// layout that depends on the batch size, so a layer holds one Winograd copy for batches up to 8 and
// one for larger batches at most (winograd_entry).
//
// SiLU (kiln's Swish activation) is not a post-op: oneDNN's costs 1.6x kiln's per element and takes
// registers from the kernel's tile (EfficientNet's 16->96 expansion at 112x112: 0.59 ms with it, 0.24
// without), so Y gets kiln's SiLU in place after the primitive (silu_in_place).
#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <string>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_layout.h"
#include "kernels/dnnl/channel_block.h"
#include "kernels/dnnl/common.h"
#include "kernels/dnnl/conv_primitive.h"
#include "kernels/dnnl/packed_weights.h"
#include "kernels/dnnl/run_memories.h"
#include "kernels/dnnl/serial_below.h"
#include "kernels/dnnl/winograd_weights.h"
#include "kernels/ref/window.h"
#include "kernels/vec/unary_loops.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;

struct BlockedConvEntry {
  dnnl::convolution_forward primitive;
  memory weights;         // packed for this primitive (a PackedWeights layout or the Winograd copy)
  bool packed = false;    // false: the run's W input in plain layout
  bool winograd = false;  // weights is the kernel's Winograd copy
  size_t scratchpad = 0;
  bool use_reference = false;
  bool sum_in_place = false;  // the residual is oneDNN's sum post-op: Y must hold a copy of Sum first

  // The Winograd copy's pages (weights points into them), held while this entry may run.
  std::shared_ptr<void> winograd_pages;
};

memory::desc any_weights(const ConvGeometry& s) { return memory::desc(s.weights, memory::data_type::f32, tag::any); }

// F(4,3) Winograd needs enough 4x4 output tiles per image to pay for weights 4x the plain ones: on a
// 7x7 map (4 tiles; ResNet's last stage, 512 channels) it measured no faster than the direct kernel
// (batch 8, 1 thread: 21.4 vs 21.1 ms) while its weights took 38 MB a layer and their reorder 0.25 s.
// F(2,3) (weights 1.8x) still pays there at batch 1 (1.0 vs 1.8 ms), as F(4,3) does from 14x14 (batch 8:
// 14.5 vs 21.0 ms, 256 channels).
constexpr int64_t kMinF43TilesPerImage = 16;

// A new Winograd copy takes the layout oneDNN picks at this batch where the shape's kernel accepts it
// and oneDNN picks the same transform (F(2,3) or F(4,3)) at the shape's own batch: then the batch-1
// warm-up packs what batch 8 runs. oneDNN's F(4,3) layouts for batch 8 serve batches 1 to 8 on
// ResNet's layers, but where oneDNN picks F(2,3) at batch 1 and F(4,3) at batch 8 (ResNet's 56x56 and
// 14x14 stages) the batch-8 F(4,3) copy ran 1.9x slower at batch 1 than F(2,3) on 14x14 (16 4x4 tiles
// per image; 256 channels, 1 thread: 1.31 vs 0.69 ms a layer; direct 1.21): resnet50 batch 1 lost
// 2-4 ms. Such a layer packs F(2,3) at batch 1, and batch 8 replaces it (in milliseconds,
// winograd_weights.h).
constexpr int64_t kWinogradLayoutBatch = 8;

// The channel block of the activations oneDNN's Winograd kernels read and write (winograd_shape).
constexpr int64_t kWinogradBlock = 16;

// The Winograd copies a layer holds (winograd_entry): for batches up to kWinogradLayoutBatch, one per
// transform oneDNN picks at the shape's own batch, and one for larger batches.
enum WinogradSlot { kSmallF23, kSmallF43, kLargeBatch, kWinogradSlots };

// 4 for F(2,3), 6 for F(4,3), 0 for a layout that is not Winograd.
int winograd_alpha(const memory::desc& weights) {
  return weights.data.format_kind == dnnl_format_kind_wino ? weights.data.format_desc.wino_desc.alpha : 0;
}

bool winograd_pays(const memory::desc& weights, const ConvGeometry& s) {
  const int alpha = winograd_alpha(weights);
  if (alpha == 0) return false;
  if (alpha < 6) return true;  // F(2,3)
  return ((s.dst[2] + 3) / 4) * ((s.dst[3] + 3) / 4) >= kMinF43TilesPerImage;
}

class DnnlBlockedConvKernel : public Kernel {
 public:
  // `plain_block`: Y's block when X is plain (input_layout "plain"); else Y takes X's.
  DnnlBlockedConvKernel(std::unique_ptr<Kernel> reference, ref::WindowAttrs attrs, int64_t group, FusedActivation act,
                        bool plain_input, int64_t plain_block)
      : reference_(std::move(reference)),
        attrs_(std::move(attrs)),
        group_(group),
        act_(std::move(act)),
        silu_after_(act_.op == kSwish),
        primitive_act_(silu_after_ ? FusedActivation{} : act_),
        plain_input_(plain_input),
        plain_block_(plain_block) {}

  // Packs constant 2-D weights `w` once into the layout a nominal input shape prefers (in the block the
  // kernel will most likely see), and lets go of the plain copy (the plan frees W: releases_constant).
  void pack(const Tensor& w) {
    if (w.rank() != 4) return;
    const int64_t block = plain_input_ ? plain_block_ : nominal_channel_block();
    if (blocked_tag(block) == tag::undef) return;
    packed_ = pack_conv_weights(w, attrs_, group_, [this, block](const ConvGeometry& s) {
      return primitive_desc(s, block, false, any_weights(s), false).weights_desc();
    });
  }

  bool releases_constant(size_t i) const override { return i == 1 && packed_ && packed_->released(); }

  Status run(KernelContext& ctx) const override {
    if (!all_float32_nonempty(ctx, {0, 2, 3})) return fallback(ctx);
    const WeightsInput weights = weights_input(ctx, 1, packed_.get());
    if (weights.shape == nullptr) return fallback(ctx);
    const Tensor& x = ctx.tensor(0);
    const Shape& w_shape = *weights.shape;
    const bool has_bias = ctx.has_input(2), has_sum = ctx.has_input(3);
    if (w_shape.size() != 4) return fallback(ctx);
    const int64_t c = w_shape[1] * group_;
    const Shape& xs = x.shape();
    const int64_t block = plain_input_ ? plain_block_ : channel_block_of(xs);
    const bool x_ok =
        blocked_tag(block) != tag::undef &&
        (plain_input_ ? (x.rank() == 4 && xs[1] == c) : (x.rank() == 5 && xs[1] == channel_blocks(c, block)));
    if (!x_ok) return fallback(ctx);  // the reference names the problem
    if (has_bias && (ctx.tensor(2).rank() != 1 || ctx.tensor(2).dim(0) != w_shape[0])) return fallback(ctx);
    ShapeKey key;
    key.add(x.shape());
    key.add(w_shape);
    key.add(has_bias ? 1 : 0);
    key.add(has_sum ? 1 : 0);
    const bool use_packed = weights.use_packed;
    key.add(use_packed ? 1 : 0);
    if (key.overflow()) return fallback(ctx);
    // A seen shape: no geometry to work out (it allocates), only the entry to run.
    if (std::shared_ptr<const CachedConv> e = cached(key)) {
      const SerialBelow serial(e->macs);
      return run_entry(*e, ctx);
    }
    std::optional<ConvGeometry> s = conv_geometry(attrs_, group_, {xs[0], c, xs[2], xs[3]}, w_shape, has_bias);
    if (!s) return fallback(ctx);
    // Output elements times multiply-adds each (C/group * kh * kw); covers creation and execution.
    const int64_t macs = shape_size(Shape(s->dst.begin(), s->dst.end())) * (shape_size(w_shape) / w_shape[0]);
    const SerialBelow serial(macs);
    bool new_winograd_copy = false;
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const CachedConv> e, cache_.get(key, [&] {
      return make_cached(*s, block, macs, has_sum, use_packed, &new_winograd_copy);
    }));
    if (new_winograd_copy) {
      // The shapes that used the copy it replaced make their primitives again (with the new copy, or
      // direct), so the old one is freed as soon as no run holds it.
      cache_.erase_if([this](const CachedConv& old) {
        return old.conv->winograd && std::none_of(std::begin(winograd_), std::end(winograd_),
                                                  [&](const WinogradCopy& c) { return old.conv->weights == c.memory; });
      });
    }
    return run_entry(*e, ctx);
  }

 private:
  // What a run needs beyond the primitive, worked out once per shape: the team decision, Y's shape and
  // the memory objects the run binds to its buffers (run_memories.h).
  enum Slot : size_t { kSrc, kWeights, kDst, kBias, kSum, kSlots };
  struct CachedConv {
    std::shared_ptr<const BlockedConvEntry> conv;
    int64_t macs = 0;  // SerialBelow's measure of the shape
    Shape y_shape;
    RunMemories<kSlots> memories;
  };

  // The entry for `key` made on the caller's team or, where that team is larger than one, the one made
  // on a single thread for a shape SerialBelow keeps serial; null when neither exists yet.
  std::shared_ptr<const CachedConv> cached(const ShapeKey& key) const {
    const int team = omp_get_max_threads();
    if (std::shared_ptr<const CachedConv> e = cache_.find(key, team)) return e;
    if (team == 1) return nullptr;
    std::shared_ptr<const CachedConv> serial = cache_.find(key, 1);
    return serial && serial->macs < kSerialMacs ? serial : nullptr;
  }

  Expected<std::shared_ptr<const CachedConv>> make_cached(const ConvGeometry& s, int64_t block, int64_t macs,
                                                          bool has_sum, bool use_packed,
                                                          bool* new_winograd_copy) const {
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const BlockedConvEntry> conv,
                          make_entry(s, block, has_sum, use_packed, new_winograd_copy));
    auto e = std::make_shared<CachedConv>();
    e->macs = macs;
    e->y_shape = blocked_shape(Shape(s.dst.begin(), s.dst.end()), block);
    if (!conv->use_reference) {
      try {
        e->memories.init(kSrc, plain_input_ ? plain_desc(s.src) : blocked_desc(s.src, block));
        e->memories.init(kWeights, plain_desc(s.weights));
        e->memories.init(kDst, blocked_desc(s.dst, block));
        if (s.has_bias) e->memories.init(kBias, plain_desc(s.bias));
        if (has_sum) e->memories.init(kSum, blocked_desc(s.dst, block));
      } catch (const dnnl::error& err) {
        return Status::Internal(std::string("oneDNN blocked convolution failed: ") + err.what());
      }
    }
    e->conv = std::move(conv);
    return std::shared_ptr<const CachedConv>(std::move(e));
  }

  Status run_entry(const CachedConv& e, KernelContext& ctx) const {
    const BlockedConvEntry& conv = *e.conv;
    if (conv.use_reference) return fallback(ctx);
    const bool has_bias = ctx.has_input(2), has_sum = ctx.has_input(3);
    if (has_sum && ctx.tensor(3).shape() != e.y_shape) return fallback(ctx);  // broadcasting Sum
    Tensor y = ctx.output0_tensor(DataType::kFloat32, e.y_shape);
    if (conv.sum_in_place) std::memcpy(y.raw(), ctx.tensor(3).raw(), y.bytes());
    try {
      RunMemories<kSlots>::Lease m(e.memories);
      ExecArgs args;
      args.add(DNNL_ARG_SRC, m.bind(kSrc, ctx.tensor(0).raw()));
      args.add(DNNL_ARG_WEIGHTS, conv.packed ? conv.weights : m.bind(kWeights, ctx.tensor(1).raw()));
      args.add(DNNL_ARG_DST, m.bind(kDst, y.raw()));
      if (has_bias) args.add(DNNL_ARG_BIAS, m.bind(kBias, ctx.tensor(2).raw()));
      if (has_sum && !conv.sum_in_place) {
        args.add(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, m.bind(kSum, ctx.tensor(3).raw()));
      }
      execute(conv.primitive, args, conv.scratchpad);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN blocked convolution failed: ") + err.what());
    }
    if (silu_after_) vec::silu_in_place(y.data<float>(), y.size());
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

  // The reference, given W unpacked when the plan freed it.
  Status fallback(KernelContext& ctx) const { return run_reference(*reference_, ctx, 1, packed_.get()); }

  // Winograd applies to 3x3, stride 1, undilated, ungrouped convolutions on blocked X of 16-channel
  // blocks (oneDNN's Winograd kernels are AVX-512 only, on nChw16c).
  bool winograd_shape(const ConvGeometry& s, int64_t block) const {
    return block == 16 && group_ == 1 && !plain_input_ && s.weights.size() == 4 && s.weights[2] == 3 &&
           s.weights[3] == 3 && s.strides == memory::dims{1, 1} && s.dilates == memory::dims{0, 0};
  }

  // Throws dnnl::error when oneDNN has no implementation. Winograd takes the residual as the sum
  // post-op (in place), the direct kernels as a binary add (read where it lies).
  dnnl::convolution_forward::primitive_desc primitive_desc(const ConvGeometry& s, int64_t block, bool has_sum,
                                                           const memory::desc& weights, bool winograd) const {
    const memory::desc bias = s.has_bias ? plain_desc(s.bias) : memory::desc();
    const dnnl::algorithm alg = winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
    const memory::desc src = plain_input_ ? plain_desc(s.src) : blocked_desc(s.src, block);
    const memory::desc dst = blocked_desc(s.dst, block);
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, alg, src, weights, bias, dst, s.strides,
                                      s.dilates, s.pad_l, s.pad_r);
    dnnl::post_ops ops;
    if (has_sum && winograd) ops.append_sum(1.f);
    if (has_sum && !winograd) ops.append_binary(dnnl::algorithm::binary_add, dst);  // post-op 0
    return dnnl::convolution_forward::primitive_desc(d, conv_attr(ops, primitive_act_), cpu_engine());
  }

  // The primitive and weights for one shape. Runs under cache_'s lock; sets *new_winograd_copy when it
  // replaced the kernel's Winograd copy.
  Expected<std::shared_ptr<const BlockedConvEntry>> make_entry(const ConvGeometry& s, int64_t block, bool has_sum,
                                                               bool use_packed, bool* new_winograd_copy) const {
    if (use_packed && winograd_shape(s, block)) {
      try {
        if (auto e = winograd_entry(s, has_sum, new_winograd_copy)) return e;
      } catch (const dnnl::error&) {  // no Winograd kernel for this shape or these post-ops: direct
      }
    }
    auto e = std::make_shared<BlockedConvEntry>();
    try {
      const auto pd = primitive_desc(s, block, has_sum, use_packed ? any_weights(s) : plain_desc(s.weights), false);
      e->primitive = dnnl::convolution_forward(pd);
      e->scratchpad = pd.scratchpad_desc().get_size();
      if (use_packed) {
        e->packed = true;
        e->weights = packed_->in_layout(pd.weights_desc());
      }
    } catch (const dnnl::error&) {
      e = std::make_shared<BlockedConvEntry>();
      e->use_reference = true;  // oneDNN has no implementation for this case
    }
    return std::shared_ptr<const BlockedConvEntry>(std::move(e));
  }

  // A Winograd primitive for `s`, or null when `s` runs direct. oneDNN's Winograd weight layout depends
  // on the batch size (and picks F(2,3) or F(4,3)); one copy per layout held two copies on 10 of
  // resnet18's layers (the batch-1 warm-up's and batch 8's: 205 MB in all). So a layer holds one copy
  // per WinogradSlot: for batches up to kWinogradLayoutBatch, one per transform oneDNN picks at the
  // shape's own batch, and one for larger batches, the second and third only once such a batch runs.
  // Within a slot, a shape whose Winograd kernel takes the held layout shares it; a new copy takes
  // batch 8's layout where that runs the transform of its own batch (kWinogradLayoutBatch); otherwise
  // a shape larger than the one the copy was made for replaces it (its layout serves more of the
  // smaller ones) and a smaller one runs direct. With a single slot, a server that had warmed up batch
  // 32 ran resnet18 at batch 1 in 11.7 ms instead of 8.1, and batch 8 at 10.4 ms a row instead of 7.3
  // (2 threads). With one slot for batches up to 8 whatever their transform, batch 1 shared batch 2's
  // F(4,3) copy on resnet18's 14x14 layers wherever batch 2 had run first (a server's batched model):
  // 0.78 ms a layer instead of 0.48, the model 9% slower at batch 1. Runs under cache_'s lock. Throws
  // dnnl::error when oneDNN has no Winograd kernel for `s`.
  std::shared_ptr<const BlockedConvEntry> winograd_entry(const ConvGeometry& s, bool has_sum,
                                                         bool* new_winograd_copy) const {
    int slot = kLargeBatch;
    if (s.src[0] <= kWinogradLayoutBatch) {
      const memory::desc own = primitive_desc(s, kWinogradBlock, has_sum, any_weights(s), true).weights_desc();
      slot = winograd_alpha(own) == 6 ? kSmallF43 : kSmallF23;
    }
    WinogradCopy& held = winograd_[slot];
    std::optional<dnnl::convolution_forward::primitive_desc> pd;
    if (held.memory) {
      try {
        pd = primitive_desc(s, kWinogradBlock, has_sum, held.memory.get_desc(), true);
        if (is_ref_impl(*pd)) pd.reset();
      } catch (const dnnl::error&) {  // this shape's Winograd kernel wants another layout
      }
    }
    if (!pd) {
      ConvGeometry layout_shape = s;  // the shape whose layout a new copy takes
      std::optional<dnnl::convolution_forward::primitive_desc> fresh = batch_layout_winograd(s, has_sum);
      if (fresh) {
        layout_shape.src[0] = layout_shape.dst[0] = kWinogradLayoutBatch;
      } else {
        fresh = primitive_desc(s, kWinogradBlock, has_sum, any_weights(s), true);
      }
      if (is_ref_impl(*fresh) || !winograd_pays(fresh->weights_desc(), s)) return nullptr;
      const int64_t src_size = shape_size(Shape(layout_shape.src.begin(), layout_shape.src.end()));
      if (held.memory && src_size <= winograd_src_size_[slot]) return nullptr;
      // By kiln's own transform where it knows the layout (winograd_weights.h: 0.25 s -> ms for a
      // 512x512 layer).
      const Tensor plain = packed_->unpack();
      held = make_winograd_copy(plain.data<float>(), s.weights[0], s.weights[1], fresh->weights_desc());
      winograd_src_size_[slot] = src_size;
      *new_winograd_copy = true;
      pd = std::move(fresh);
    }
    auto e = std::make_shared<BlockedConvEntry>();
    e->primitive = dnnl::convolution_forward(*pd);
    e->scratchpad = pd->scratchpad_desc().get_size();
    e->weights = held.memory;
    e->winograd_pages = held.pages;
    e->packed = e->winograd = true;
    e->sum_in_place = has_sum;
    return e;
  }

  // A Winograd primitive for `s` (batch below kWinogradLayoutBatch) with the weights layout oneDNN picks
  // at batch kWinogradLayoutBatch, or nullopt when that layout does not pay, has another transform than
  // oneDNN picks for `s`, or `s` does not take it.
  std::optional<dnnl::convolution_forward::primitive_desc> batch_layout_winograd(const ConvGeometry& s,
                                                                                 bool has_sum) const {
    if (s.src[0] >= kWinogradLayoutBatch) return std::nullopt;
    ConvGeometry batch = s;
    batch.src[0] = batch.dst[0] = kWinogradLayoutBatch;
    try {
      const memory::desc layout = primitive_desc(batch, kWinogradBlock, has_sum, any_weights(s), true).weights_desc();
      if (!winograd_pays(layout, batch)) return std::nullopt;
      if (winograd_alpha(layout) !=
          winograd_alpha(primitive_desc(s, kWinogradBlock, has_sum, any_weights(s), true).weights_desc())) {
        return std::nullopt;  // the transform oneDNN picks at this batch differs: see kWinogradLayoutBatch
      }
      auto pd = primitive_desc(s, kWinogradBlock, has_sum, layout, true);
      if (is_ref_impl(pd)) return std::nullopt;
      return pd;
    } catch (const dnnl::error&) {
      return std::nullopt;
    }
  }

  std::unique_ptr<Kernel> reference_;
  ref::WindowAttrs attrs_;
  int64_t group_;
  FusedActivation act_;
  bool silu_after_;                 // act_ is SiLU, applied after the primitive
  FusedActivation primitive_act_;  // the post-op activation: act_, or none when silu_after_
  bool plain_input_;
  int64_t plain_block_;
  std::unique_ptr<PackedWeights> packed_;  // null when W is not a constant the kernel could pack
  // The Winograd copies of the weights, one per WinogradSlot, and the logical input size each was made
  // for; guarded by cache_'s lock (entries are made under it).
  mutable WinogradCopy winograd_[kWinogradSlots];
  mutable int64_t winograd_src_size_[kWinogradSlots] = {};
  ShapeCache<CachedConv> cache_;
};

Expected<std::unique_ptr<Kernel>> make_blocked_conv(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  auto attrs = ref::parse_window_attrs(b.node);
  auto act = parse_blocked_conv_activation(b.node);
  const int64_t group = b.node.attr_int("group", 1);
  // An input activation is vec/blocked_depthwise.cc's to compute (it takes every such node first).
  if (!attrs.ok() || !act.ok() || group < 1 || b.node.has_attr(kInputActivationAttr)) return reference;
  auto kernel = std::make_unique<DnnlBlockedConvKernel>(std::move(reference), std::move(attrs).value(), group,
                                                        std::move(act).value(), blocked_conv_plain_input(b.node),
                                                        b.node.attr_int(kChannelBlockAttr, kDefaultChannelBlock));
  if (const Tensor* w = b.constant(1)) kernel->pack(*w);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedConv", 1, 1, kDnnlPriority, make_blocked_conv);

}  // namespace kiln::dnnl_kernels
