// kiln.BlockedConvDepthwise on oneDNN (the operator: kernels/blocked_conv_depthwise_attrs.h): one 1x1
// convolution primitive with oneDNN's depthwise post-op (append_dw: 3x3, padding 1, stride 1 or 2), so
// the expanded tensor between the two convolutions never leaves the cache. Measured on MobileNetV2's
// and EfficientNet's pairs, process CPU time, 1 thread: 0.82-0.98 of the two separate primitives at
// batch 1, 0.73-0.94 at batch 8 (the expanded tensors are then 10-40 MB).
//
// oneDNN 2.6's depthwise post-op is 3x3 only: a node with a 5x5 DW always runs as the two kernels (the
// vector kernel, vec/blocked_conv_depthwise.cc, registered above this one, computes those it takes).
//
// Both weights are packed once per layout oneDNN asks for, first at build for a nominal image, and the
// plain W and DW are let go (the plan frees them: releases_constant). Anything the fused primitive does not take
// (other shapes, no implementation) runs as the two kiln.BlockedConv kernels it replaced, built from
// the registry on first need, so results and errors are theirs.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor_rows.h"
#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_conv_depthwise_attrs.h"
#include "kernels/blocked_conv_depthwise_steps.h"
#include "kernels/blocked_layout.h"
#include "kernels/dnnl/channel_block.h"
#include "kernels/dnnl/common.h"
#include "kernels/dnnl/packed_weights.h"
#include "kernels/dnnl/run_memories.h"
#include "kernels/dnnl/serial_below.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;

// Multiply-adds below which a node runs whole at batch 1 rather than in channel parts (make_channel_parts):
// the serial threshold of the other kernels (serial_below.h).
constexpr int64_t kChannelPartsMinMacs = kSerialMacs;

enum Slot : size_t { kSrc, kDst, kBias, kSlots };

// A slice of the expanded channels with a fused primitive of its own, made for a team of one: see
// make_channel_parts.
struct ChannelPart {
  dnnl::convolution_forward primitive;
  OwnedMemory weights, dw_weights, dw_bias;  // this slice's own packed copies
  Tensor bias;  // B's slice; undefined without B
  size_t scratchpad = 0;
  int64_t dst_offset = 0;        // its first element in Y
  RunMemories<kSlots> memories;  // X, its slice of Y and of B, bound per run
};

struct ConvDepthwiseEntry {
  dnnl::convolution_forward primitive;
  memory weights, dw_weights, dw_bias;
  size_t scratchpad = 0;
  memory::dims src, dst, bias;
  bool fused = false;  // false: run the two kernels
  RunMemories<kSlots> memories;  // X, Y and B, bound per run
  // At batch 1 on a team: the expanded channels in slices, one thread each (empty: the whole primitive).
  std::vector<std::unique_ptr<ChannelPart>> parts;
};

// Rows [begin, end) of a constant weight tensor, as a tensor of its own (the rows are in range: callers
// cut whole channel blocks of it).
Tensor rows_of(const Tensor& t, int64_t begin, int64_t end) {
  Expected<Tensor> rows = slice_rows(t, begin, end - begin);
  if (!rows.ok()) throw dnnl::error(dnnl_invalid_arguments, "cannot slice the weights");
  return std::move(rows).value();
}

// `plain` (described by `plain_md`) reordered into `md`, in pages of its own.
OwnedMemory packed_copy(const Tensor& plain, const memory::desc& plain_md, const memory::desc& md) {
  OwnedMemory packed = owned_memory(md);
  memory from = wrap(plain_md, plain.raw());
  dnnl::reorder(from, packed.memory).execute(thread_stream(), from, packed.memory);
  thread_stream().wait();
  return packed;
}

// OpenMP's thread count for the calling thread is one while in scope (so are the primitives made then).
class ScopedTeamOfOne {
 public:
  ScopedTeamOfOne() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~ScopedTeamOfOne() { omp_set_num_threads(saved_); }
  ScopedTeamOfOne(const ScopedTeamOfOne&) = delete;
  ScopedTeamOfOne& operator=(const ScopedTeamOfOne&) = delete;

 private:
  int saved_;
};

void append(const FusedActivation& act, dnnl::post_ops* ops) {
  if (act.op == kSwish) {
    ops->append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.f, 0.f);  // x * sigmoid(1 * x)
  } else {
    append_activation(act, ops);
  }
}

class DnnlBlockedConvDepthwise : public Kernel {
 public:
  DnnlBlockedConvDepthwise(ir::Node pointwise, ir::Node depthwise, FusedActivation act, FusedActivation dw_act,
                           int64_t stride, const Tensor& w, Tensor b, const Tensor& dw, Tensor db, bool has_db)
      : pointwise_node_(std::move(pointwise)),
        depthwise_node_(std::move(depthwise)),
        act_(std::move(act)),
        dw_act_(std::move(dw_act)),
        stride_(stride),
        dw_kernel_(dw.dim(2)),
        w_(w, plain_desc(to_dims(w.shape())), w),
        b_(std::move(b)),
        dw_(dw, plain_desc({w.dim(0), 1, 1, dw.dim(2), dw.dim(3)}), dw),
        db_(std::move(db)),
        db_packed_(db_, plain_desc({w.dim(0)}), db_),
        has_db_(has_db) {}

  // Packs W and DW in the layouts the fused primitive picks for a nominal 32x32 image (in the block the
  // kernel will most likely see) and lets go of the plain copies; keeps them when oneDNN has no fused
  // primitive there (the first run packs what it needs).
  void pack() {
    if (dw_kernel_ != 3) return;  // no fused primitive: the two kernels pack their own
    try {
      const int64_t c = w_.shape()[1], m = w_.shape()[0];
      const dnnl::convolution_forward::primitive_desc pd = primitive_desc(1, c, m, 32, 32, nominal_channel_block());
      w_.in_layout(pd.weights_desc());
      dw_.in_layout(pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS));
      w_.release_source();
      dw_.release_source();
    } catch (const dnnl::error&) {
    }
  }

  bool releases_constant(size_t i) const override { return (i == 1 && w_.released()) || (i == 3 && dw_.released()); }

  Status run(KernelContext& ctx) const override {
    // Once the plan freed W and DW they read as absent: the packed copies stand for them.
    auto is_constant = [&ctx](size_t i, const PackedWeights& p) {
      return p.stand_for(ctx.tensor(i)) || (p.released() && !ctx.tensor(i).defined());
    };
    const bool inputs_ok = all_float32_nonempty(ctx, {0}) && ctx.has_input(2) == b_.defined() && is_constant(1, w_) &&
                           is_constant(3, dw_) && (!ctx.has_input(4) || ctx.tensor(4).raw() == db_.raw());
    const Tensor& x = ctx.tensor(0);
    const int64_t c = w_.shape()[1], m = w_.shape()[0], block = channel_block_of(x.shape());
    if (!inputs_ok || x.rank() != 5 || blocked_tag(block) == tag::undef || x.dim(1) != channel_blocks(c, block)) {
      return run_separately(ctx);
    }
    ShapeKey key;
    key.add(x.shape());
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const ConvDepthwiseEntry> e,
                          cache_.get(key, [&] { return make_entry(x.dim(0), c, m, x.dim(2), x.dim(3), block); }));
    if (!e->fused) return run_separately(ctx);
    Tensor y(DataType::kFloat32, blocked_shape(Shape(e->dst.begin(), e->dst.end()), block),
             Tensor::Init::kUninitialized);
    if (!e->parts.empty() && !omp_in_parallel()) {
      KILN_RETURN_IF_ERROR(run_channel_parts(*e, x, y));
      ctx.set_output(0, Value(std::move(y)));
      return Status::OK();
    }
    try {
      RunMemories<kSlots>::Lease m(e->memories);
      ExecArgs args;
      args.add(DNNL_ARG_SRC, m.bind(kSrc, x.raw()));
      args.add(DNNL_ARG_WEIGHTS, e->weights);
      if (b_.defined()) args.add(DNNL_ARG_BIAS, m.bind(kBias, b_.raw()));
      args.add(DNNL_ARG_DST, m.bind(kDst, y.raw()));
      args.add(DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS, e->dw_weights);
      args.add(DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS, e->dw_bias);
      execute(e->primitive, args, e->scratchpad);
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN fused depthwise convolution failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  // The two kernels the node replaced, one after the other; built on first use, since most nodes never
  // need them (each would hold another packed copy of its weights).
  // They get W and DW unpacked (their own constants, which they pack in turn).
  Status run_separately(KernelContext& ctx) const {
    std::call_once(separate_once_, [this] {
      try {
        separate_w_ = Value(w_.unpack());
        separate_dw_ = Value(dw_.unpack());
      } catch (const dnnl::error& e) {
        separate_status_ = Status::Internal(std::string("oneDNN could not unpack constant weights: ") + e.what());
        return;
      }
      auto pointwise =
          build_best_kernel(pointwise_node_, 1, {nullptr, &separate_w_.tensor(), b_.defined() ? &b_ : nullptr});
      auto depthwise =
          build_best_kernel(depthwise_node_, 1, {nullptr, &separate_dw_.tensor(), has_db_ ? &db_ : nullptr});
      if (!pointwise.ok())
        separate_status_ = pointwise.status();
      else if (!depthwise.ok())
        separate_status_ = depthwise.status();
      else {
        pointwise_ = std::move(pointwise).value();
        depthwise_ = std::move(depthwise).value();
      }
    });
    KILN_RETURN_IF_ERROR(separate_status_);
    return run_conv_then_depthwise(ctx, *pointwise_, separate_w_, *depthwise_, separate_dw_);
  }

  // Each slice on a thread of the team, writing its channel blocks of Y.
  Status run_channel_parts(const ConvDepthwiseEntry& e, const Tensor& x, Tensor& y) const {
    const int parts = static_cast<int>(e.parts.size());
    std::atomic<bool> failed{false};
    std::mutex error_mu;
    std::string error;
    // X is bound once, here: binding a blocked memory zero-fills its padding lanes, which the slices
    // would otherwise do to the one X at the same time as others read it.
    dnnl::memory src;
    std::optional<RunMemories<kSlots>::Lease> src_lease;
    try {
      src_lease.emplace(e.parts.front()->memories);
      src = src_lease->bind(kSrc, x.raw());
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN fused depthwise convolution failed: ") + err.what());
    }
#pragma omp parallel num_threads(parts)
    {
      // OpenMP may give fewer threads than asked; the threads it gives take the slices in turn.
      for (int p = omp_get_thread_num(); p < parts; p += omp_get_num_threads()) {
        try {
          const ChannelPart& part = *e.parts[static_cast<size_t>(p)];
          std::optional<RunMemories<kSlots>::Lease> own;  // part 0's lease is src_lease
          RunMemories<kSlots>::Lease& m = p == 0 ? *src_lease : own.emplace(part.memories);
          ExecArgs args;
          args.add(DNNL_ARG_SRC, src);
          args.add(DNNL_ARG_WEIGHTS, part.weights.memory);
          if (part.bias.defined()) args.add(DNNL_ARG_BIAS, m.bind(kBias, part.bias.raw()));
          args.add(DNNL_ARG_DST, m.bind(kDst, y.data<float>() + part.dst_offset));
          args.add(DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS, part.dw_weights.memory);
          args.add(DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS, part.dw_bias.memory);
          execute(part.primitive, args, part.scratchpad);
        } catch (const std::exception& err) {  // nothing may leave a parallel region
          failed = true;
          const std::lock_guard<std::mutex> lock(error_mu);
          error = err.what();
        }
      }
    }
    if (failed) return Status::Internal("oneDNN fused depthwise convolution failed: " + error);
    return Status::OK();
  }

  // At batch 1 on a team of several threads, oneDNN's fused primitive splits the one image poorly
  // (mobilenet_v2, 2 threads: its 16 fused nodes ran 1.26x faster than on 1 thread). Slices of the
  // expanded channels, whole channel blocks each, share nothing: each gets a fused primitive of its own,
  // made for a team of one, with its slice of the weights, and writes its blocks of Y (consecutive at
  // batch 1). Leaves `e.parts` empty (the whole primitive runs) where slicing does not apply or pay.
  void make_channel_parts(ConvDepthwiseEntry& e, int64_t c, int64_t m, int64_t h, int64_t w, int64_t block) const {
    const int64_t blocks = channel_blocks(m, block);
    const int parts = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), blocks));
    const int64_t out_h = e.dst[2], out_w = e.dst[3];
    const int64_t macs = m * c * h * w + m * 9 * out_h * out_w;
    if (e.src[0] != 1 || parts < 2 || macs < kChannelPartsMinMacs) return;
    try {
      const bool whole_is_reference_fusion = reference_fusion(primitive_desc(1, c, m, h, w, block));
      const Tensor plain_w = w_.unpack();   // [m, c, 1, 1]
      const Tensor plain_dw = dw_.unpack();  // [m, 1, 3, 3]
      std::vector<std::unique_ptr<ChannelPart>> made;
      const ScopedTeamOfOne one;
      for (int p = 0; p < parts; ++p) {
        const int64_t m0 = std::min(m, blocks * p / parts * block);
        const int64_t m1 = std::min(m, blocks * (p + 1) / parts * block);
        const int64_t mp = m1 - m0;
        const dnnl::convolution_forward::primitive_desc pd = primitive_desc(1, c, mp, h, w, block);
        const memory::dims dst = pd.dst_desc().dims();
        if (!is_jit(pd) || pd.dst_desc() != blocked_desc(dst, block)) return;
        // oneDNN fuses in one jit kernel only some channel counts; a slice it would run through its
        // reference fusion (the two kernels and a buffer between) loses what the slicing gains.
        if (reference_fusion(pd) && !whole_is_reference_fusion) return;
        auto part = std::make_unique<ChannelPart>();
        part->weights = packed_copy(rows_of(plain_w, m0, m1), plain_desc({mp, c, 1, 1}), pd.weights_desc());
        part->dw_weights =
            packed_copy(rows_of(plain_dw, m0, m1), plain_desc({mp, 1, 1, 3, 3}),
                        pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS));
        part->dw_bias = packed_copy(rows_of(db_, m0, m1), plain_desc({mp}),
                                    pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS));
        if (b_.defined()) part->bias = rows_of(b_, m0, m1);
        part->primitive = dnnl::convolution_forward(pd);
        part->scratchpad = pd.scratchpad_desc().get_size();
        part->dst_offset = m0 / block * out_h * out_w * block;
        part->memories.init(kSrc, blocked_desc(e.src, block));
        part->memories.init(kDst, blocked_desc(dst, block));
        if (b_.defined()) part->memories.init(kBias, plain_desc({mp}));
        made.push_back(std::move(part));
      }
      e.parts = std::move(made);
    } catch (const dnnl::error&) {  // a slice oneDNN has no fused kernel for: the whole primitive runs
    }
  }

  // oneDNN's wrapper that runs the 1x1 and the depthwise kernels one after the other.
  static bool reference_fusion(const dnnl::convolution_forward::primitive_desc& pd) {
    return std::string(pd.impl_info_str()).rfind("ref_fused", 0) == 0;
  }

  // Only oneDNN's jit kernels (alone or in its fused wrapper).
  static bool is_jit(const dnnl::convolution_forward::primitive_desc& pd) {
    const std::string impl = pd.impl_info_str();
    return impl.rfind("ref:", 0) != 0 && impl.find("jit") != std::string::npos;
  }

  // The fused primitive for X of [n, c, h, w] (in blocks of `block`) and m expanded channels. Throws
  // dnnl::error.
  dnnl::convolution_forward::primitive_desc primitive_desc(int64_t n, int64_t c, int64_t m, int64_t h, int64_t w,
                                                           int64_t block) const {
    const memory::desc wmd({m, c, 1, 1}, memory::data_type::f32, tag::any);
    const memory::desc bmd = b_.defined() ? plain_desc({m}) : memory::desc();
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                      blocked_desc({n, c, h, w}, block), wmd, bmd, blocked_desc({n, m, h, w}, block),
                                      {1, 1}, {0, 0}, {0, 0});
    dnnl::post_ops ops;
    append(act_, &ops);
    ops.append_dw(memory::data_type::f32, memory::data_type::f32, memory::data_type::f32, 3, stride_, 1, 0, {});
    append(dw_act_, &ops);
    dnnl::primitive_attr attr = base_attr();
    attr.set_post_ops(ops);
    return dnnl::convolution_forward::primitive_desc(d, attr, cpu_engine());
  }

  Expected<std::shared_ptr<const ConvDepthwiseEntry>> make_entry(int64_t n, int64_t c, int64_t m, int64_t h, int64_t w,
                                                                 int64_t block) const {
    auto e = std::make_shared<ConvDepthwiseEntry>();
    if (dw_kernel_ != 3) return std::shared_ptr<const ConvDepthwiseEntry>(std::move(e));  // the two kernels
    try {
      e->src = {n, c, h, w};
      e->bias = {m};
      const dnnl::convolution_forward::primitive_desc pd = primitive_desc(n, c, m, h, w, block);
      const memory::desc dst = pd.dst_desc();
      e->dst = dst.dims();
      // Only oneDNN's jit kernels, writing the blocked layout we expect.
      if (!is_jit(pd) || dst != blocked_desc(e->dst, block)) return std::shared_ptr<const ConvDepthwiseEntry>(std::move(e));
      const memory::desc dw_md = pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS);
      const memory::desc db_md = pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS);
      e->weights = w_.in_layout(pd.weights_desc());
      e->dw_weights = dw_.in_layout(dw_md);
      e->dw_bias = db_packed_.in_layout(db_md);
      e->primitive = dnnl::convolution_forward(pd);
      e->scratchpad = pd.scratchpad_desc().get_size();
      e->memories.init(kSrc, blocked_desc(e->src, block));
      e->memories.init(kDst, blocked_desc(e->dst, block));
      if (b_.defined()) e->memories.init(kBias, plain_desc(e->bias));
      e->fused = true;
      make_channel_parts(*e, c, m, h, w, block);
    } catch (const dnnl::error&) {
      e->fused = false;  // no fused implementation for this shape: the two kernels run it
    }
    return std::shared_ptr<const ConvDepthwiseEntry>(std::move(e));
  }

  ir::Node pointwise_node_, depthwise_node_;  // the two nodes replaced (input names only mark presence)
  mutable std::once_flag separate_once_;
  mutable Status separate_status_;
  mutable std::unique_ptr<Kernel> pointwise_, depthwise_;  // set once under separate_once_
  mutable Value separate_w_, separate_dw_;                 // W and DW unpacked for them, likewise
  FusedActivation act_, dw_act_;
  int64_t stride_;
  int64_t dw_kernel_;  // DW's window: 3 or 5
  PackedWeights w_;    // W [m, c, 1, 1]
  Tensor b_;          // B [m], or undefined
  PackedWeights dw_;  // DW [m, 1, k, k], as [m, 1, 1, k, k] (one group per channel)
  Tensor db_;         // DB [m] (zeros when DB is absent)
  PackedWeights db_packed_;
  bool has_db_;
  ShapeCache<ConvDepthwiseEntry> cache_;
};

Expected<std::unique_ptr<Kernel>> make_blocked_conv_depthwise(const KernelBuildContext& b) {
  const Tensor* w = b.constant(1);
  const Tensor* b1 = b.constant(2);
  const Tensor* dw = b.constant(3);
  const Tensor* db = b.constant(4);
  const int64_t stride = b.node.attr_int(kDepthwiseStrideAttr, 1);
  auto act = parse_blocked_conv_activation(conv_depthwise_pointwise_node(b.node));
  auto dw_act = parse_blocked_conv_activation(conv_depthwise_depthwise_node(b.node, 1, 3));
  // A bias that is not a constant reads as absent here; run() then sees it given and runs the two kernels.
  const bool has_b = b1 != nullptr, has_db = db != nullptr;
  const bool shapes_ok = w != nullptr && dw != nullptr && w->dtype() == DataType::kFloat32 &&
                         dw->dtype() == DataType::kFloat32 && w->rank() == 4 && w->dim(2) == 1 && w->dim(3) == 1 &&
                         dw->rank() == 4 && conv_depthwise_kernel_ok(dw->dim(2)) &&
                         dw->shape() == Shape{w->dim(0), 1, dw->dim(2), dw->dim(2)} &&
                         (!has_b || (b1 && b1->shape() == Shape{w->dim(0)})) &&
                         (!has_db || (db && db->shape() == Shape{w->dim(0)})) && w->size() > 0;
  if (!shapes_ok || !act.ok() || !dw_act.ok() || (stride != 1 && stride != 2) ||
      (b1 && b1->dtype() != DataType::kFloat32) || (db && db->dtype() != DataType::kFloat32)) {
    return build_reference(b);  // the reference reports or handles it
  }
  ir::Node pointwise = conv_depthwise_pointwise_node(b.node);
  pointwise.inputs = {"x", "w", has_b ? "b" : ""};
  ir::Node depthwise = conv_depthwise_depthwise_node(b.node, w->dim(0), dw->dim(2));
  depthwise.inputs = {"y", "dw", has_db ? "db" : ""};
  Tensor zeros(DataType::kFloat32, {w->dim(0)});
  auto kernel = std::make_unique<DnnlBlockedConvDepthwise>(
      std::move(pointwise), std::move(depthwise), std::move(act).value(), std::move(dw_act).value(), stride, *w,
      has_b ? *b1 : Tensor(), *dw, has_db ? *db : zeros, has_db);
  kernel->pack();
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedConvDepthwise", 1, 1, kDnnlPriority, make_blocked_conv_depthwise);

}  // namespace kiln::dnnl_kernels
