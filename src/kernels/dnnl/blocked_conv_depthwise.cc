// kiln.BlockedConvDepthwise on oneDNN (the operator: kernels/blocked_conv_depthwise_attrs.h): one 1x1
// convolution primitive with oneDNN's depthwise post-op (append_dw: 3x3, padding 1, stride 1 or 2), so
// the expanded tensor between the two convolutions never leaves the cache. Measured on MobileNetV2's
// and EfficientNet's pairs, process CPU time, 1 thread: 0.82-0.98 of the two separate primitives at
// batch 1, 0.73-0.94 at batch 8 (the expanded tensors are then 10-40 MB).
//
// Both weights are packed once per layout oneDNN asks for, first at build for a nominal image, and the
// plain W and DW are let go (the plan frees them: releases_constant). Anything the fused primitive does not take
// (other shapes, no implementation) runs as the two kiln.BlockedConv kernels it replaced, built from
// the registry on first need, so results and errors are theirs.
#include <mutex>
#include <string>
#include <vector>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_conv_depthwise_attrs.h"
#include "kernels/blocked_conv_depthwise_steps.h"
#include "kernels/blocked_layout.h"
#include "kernels/dnnl/channel_block.h"
#include "kernels/dnnl/common.h"
#include "kernels/dnnl/packed_weights.h"
#include "kernels/dnnl/run_memories.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;

struct ConvDepthwiseEntry {
  dnnl::convolution_forward primitive;
  memory weights, dw_weights, dw_bias;
  size_t scratchpad = 0;
  memory::dims src, dst, bias;
  bool fused = false;  // false: run the two kernels
  enum Slot : size_t { kSrc, kDst, kBias, kSlots };
  RunMemories<kSlots> memories;  // X, Y and B, bound per run
};

void append(const FusedActivation& act, dnnl::post_ops* ops) {
  if (act.op == kSwish) {
    ops->append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.f, 0.f);  // x * sigmoid(1 * x)
  } else {
    append_activation(act, ops);
  }
}

// A kiln.BlockedConv kernel (the fastest registered) for `node`, given its inputs' constant values
// (nullptr: not a constant), so it packs its weights as it would in the graph.
Expected<std::unique_ptr<Kernel>> build_blocked_conv(const ir::Node& node, std::vector<const Tensor*> constants) {
  const KernelRegistration* reg = KernelRegistry::global().find("kiln", "BlockedConv", 1);
  if (reg == nullptr) return Status::Unimplemented("no kernel for BlockedConv");
  KernelBuildContext b{node, 1, nullptr};
  b.constant_input = [&constants](size_t i) { return i < constants.size() ? constants[i] : nullptr; };
  return reg->factory(b);
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
        w_(w, plain_desc(to_dims(w.shape())), w),
        b_(std::move(b)),
        dw_(dw, plain_desc({w.dim(0), 1, 1, 3, 3}), dw),
        db_(std::move(db)),
        db_packed_(db_, plain_desc({w.dim(0)}), db_),
        has_db_(has_db) {}

  // Packs W and DW in the layouts the fused primitive picks for a nominal 32x32 image (in the block the
  // kernel will most likely see) and lets go of the plain copies; keeps them when oneDNN has no fused
  // primitive there (the first run packs what it needs).
  void pack() {
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
    try {
      RunMemories<ConvDepthwiseEntry::kSlots>::Lease m(e->memories);
      ExecArgs args;
      args.add(DNNL_ARG_SRC, m.bind(ConvDepthwiseEntry::kSrc, x.raw()));
      args.add(DNNL_ARG_WEIGHTS, e->weights);
      if (b_.defined()) args.add(DNNL_ARG_BIAS, m.bind(ConvDepthwiseEntry::kBias, b_.raw()));
      args.add(DNNL_ARG_DST, m.bind(ConvDepthwiseEntry::kDst, y.raw()));
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
          build_blocked_conv(pointwise_node_, {nullptr, &separate_w_.tensor(), b_.defined() ? &b_ : nullptr});
      auto depthwise = build_blocked_conv(depthwise_node_, {nullptr, &separate_dw_.tensor(), has_db_ ? &db_ : nullptr});
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
    return run_pointwise_then_depthwise(ctx, *pointwise_, separate_w_, *depthwise_, separate_dw_);
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
    try {
      e->src = {n, c, h, w};
      e->bias = {m};
      const dnnl::convolution_forward::primitive_desc pd = primitive_desc(n, c, m, h, w, block);
      const std::string impl = pd.impl_info_str();
      const memory::desc dst = pd.dst_desc();
      e->dst = dst.dims();
      // Only oneDNN's jit kernels (alone or in its fused wrapper), writing the blocked layout we expect.
      if (impl.rfind("ref:", 0) == 0 || impl.find("jit") == std::string::npos || dst != blocked_desc(e->dst, block)) {
        return std::shared_ptr<const ConvDepthwiseEntry>(std::move(e));
      }
      const memory::desc dw_md = pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS);
      const memory::desc db_md = pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS);
      e->weights = w_.in_layout(pd.weights_desc());
      e->dw_weights = dw_.in_layout(dw_md);
      e->dw_bias = db_packed_.in_layout(db_md);
      e->primitive = dnnl::convolution_forward(pd);
      e->scratchpad = pd.scratchpad_desc().get_size();
      e->memories.init(ConvDepthwiseEntry::kSrc, blocked_desc(e->src, block));
      e->memories.init(ConvDepthwiseEntry::kDst, blocked_desc(e->dst, block));
      if (b_.defined()) e->memories.init(ConvDepthwiseEntry::kBias, plain_desc(e->bias));
      e->fused = true;
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
  PackedWeights w_;   // W [m, c, 1, 1]
  Tensor b_;          // B [m], or undefined
  PackedWeights dw_;  // DW [m, 1, 3, 3], as [m, 1, 1, 3, 3] (one group per channel)
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
  auto dw_act = parse_blocked_conv_activation(conv_depthwise_depthwise_node(b.node, 1));
  // A bias that is not a constant reads as absent here; run() then sees it given and runs the two kernels.
  const bool has_b = b1 != nullptr, has_db = db != nullptr;
  const bool shapes_ok = w != nullptr && dw != nullptr && w->dtype() == DataType::kFloat32 &&
                         dw->dtype() == DataType::kFloat32 && w->rank() == 4 && w->dim(2) == 1 && w->dim(3) == 1 &&
                         dw->shape() == Shape{w->dim(0), 1, 3, 3} &&
                         (!has_b || (b1 && b1->shape() == Shape{w->dim(0)})) &&
                         (!has_db || (db && db->shape() == Shape{w->dim(0)})) && w->size() > 0;
  if (!shapes_ok || !act.ok() || !dw_act.ok() || (stride != 1 && stride != 2) ||
      (b1 && b1->dtype() != DataType::kFloat32) || (db && db->dtype() != DataType::kFloat32)) {
    return build_reference(b);  // the reference reports or handles it
  }
  ir::Node pointwise = conv_depthwise_pointwise_node(b.node);
  pointwise.inputs = {"x", "w", has_b ? "b" : ""};
  ir::Node depthwise = conv_depthwise_depthwise_node(b.node, w->dim(0));
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
