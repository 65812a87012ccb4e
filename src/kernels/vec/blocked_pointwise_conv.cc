// kiln.BlockedConv for a 1x1 convolution (stride 1, no padding, group 1) on blocked X, on the vector
// units at AVX-512 (the operator: kernels/blocked_conv_attrs.h): Y = activation(X . W + B + Sum).
//
// MobileNetV2's and EfficientNet's projections (a few hundred channels down to 24-320), and
// SqueezeNet's squeeze layers: oneDNN's 1x1 kernel ran the projections at 160-175 GFLOP/s in the
// network, where the tiles of pointwise_rows.h (7 pixels x 2 or 3 channel blocks, the residual and the
// activation applied in registers) reach 203-218 on their shapes alone.
//
// The work is split in units of a run of pixels x a group of Y's blocks (vec/pointwise_units.h).
//
// Taken where it pays: at AVX-512 (below it, oneDNN's AVX2 kernels beat Vec<8> code), for a layer with
// no more output than input channels, with weights up to kMaxSumWeightBytes where it adds a residual
// (which oneDNN adds in a pass of its own) and up to kMaxWeightBytes where it does not. Measured per
// node in the networks (1 thread, batch 1, against oneDNN's kernel in alternating runs, set against
// the nodes neither kernel changes): MobileNetV2's residual projections ran 0.88-0.97x oneDNN's time;
// the projections without a residual 0.80-0.93x up to 369 KB of weights and 1.11x at 1.2 MB (960 ->
// 320); SqueezeNet's squeeze layers 0.78-0.95x; ResNet-50's narrowing layers 0.94-1.02x up to 256 KB,
// 1.02x at 512 KB and 1.08-1.17x at 1-2 MB, where each group's weights no longer stay in L2 for the
// few pixels a 32 KB run of X holds. ResNet-50's widening layers (the residual added) ran 1.03-1.05x at
// 2 threads. Whole networks, without a residual taken against not (alternate runs of two sessions in
// one process): squeezenet1_1 0.97-0.99x the time, mobilenet_v2, efficientnet_b0 and resnet50 within
// 1%. Everything else goes to the kernel below (oneDNN's, or the reference).
// W is packed at build as [ceil(M/16)][C][16] and released; a call the kernel does not take (Sum
// of another shape, W or B given at run time) gets it back, unpacked, for the reference.
#pragma GCC diagnostic ignored "-Wpsabi"  // Vec<W> never crosses a call: see reduce_loops.cc

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_layout.h"
#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/packed_lanes.h"
#include "kernels/vec/parallel_chunks.h"
#include "kernels/vec/pointwise_units.h"
#include "kernels/vec/reference_fallback.h"
#include "kernels/vec/row_activation.h"

namespace kiln::vec {
namespace {

// Between the input-SiLU depthwise kernel (vec/blocked_depthwise.cc, 20), which hands this one every
// node without input_activation, and oneDNN's (kDnnlPriority, 10).
constexpr int kPointwisePriority = 15;

// Above these, the weights (C x M floats) are oneDNN's, with a residual and without (see the top of
// the file).
constexpr int64_t kMaxSumWeightBytes = int64_t{2} << 20;
constexpr int64_t kMaxWeightBytes = int64_t{384} << 10;

// Multiply-adds per thread before a team shares the work (about 5 us at one core's peak).
constexpr int64_t kGrainMacs = int64_t{1} << 19;

class VecBlockedPointwiseConv : public Kernel {
 public:
  // w_source: the constant W as the plan holds it, until it releases it.
  VecBlockedPointwiseConv(std::unique_ptr<Kernel> reference, int64_t m, int64_t c, RowActivation act, bool has_b,
                          const void* w_source, Tensor w, Tensor b)
      : reference_(std::move(reference)),
        m_(m),
        c_(c),
        act_(act),
        has_b_(has_b),
        w_source_(w_source),
        w_(std::move(w)),
        b_(std::move(b)) {}

  bool releases_constant(size_t i) const override { return i == 1; }

  Status run(KernelContext& ctx) const override {
    const bool w_packed = !ctx.tensor(1).defined() || ctx.tensor(1).raw() == w_source_;
    if (!is_float32_tensor(ctx, 0) || !w_packed || ctx.has_input(2) != has_b_) return run_reference(ctx);
    const Tensor& x = ctx.tensor(0);
    const int64_t block = channel_block_of(x.shape());
    if (x.rank() != 5 || (block != 8 && block != 16) || x.dim(1) != channel_blocks(c_, block) || x.size() == 0) {
      return run_reference(ctx);  // the reference names the problem
    }
    const int64_t n = x.dim(0), blocks = channel_blocks(m_, block);
    const Shape y_shape{n, blocks, x.dim(2), x.dim(3), block};
    const bool has_sum = ctx.has_input(3);
    if (has_sum && !(is_float32_tensor(ctx, 3) && ctx.tensor(3).shape() == y_shape)) return run_reference(ctx);
    Tensor y = ctx.output0_tensor(DataType::kFloat32, y_shape);
    const pointwise::Call call(x.data<float>(), w_.data<float>(), 0, b_.data<float>(),
                               has_sum ? ctx.tensor(3).data<float>() : nullptr, y.data<float>(), n, c_, m_, block,
                               x.dim(1), x.dim(2) * x.dim(3), act_);
    for_each_row_chunk(call.units(), call.unit_macs(), kGrainMacs,
                       [&](int64_t begin, int64_t end) { pointwise::run_units(call, begin, end); });
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  // The reference, with W unpacked where the plan released it (made once, on first need).
  Status run_reference(KernelContext& ctx) const {
    std::call_once(unpacked_once_, [this] { plain_w_ = Value(unpack_lanes(w_, {m_, c_, 1, 1})); });
    return run_counted_reference(*reference_, ctx, {{1, &plain_w_}});
  }

  std::unique_ptr<Kernel> reference_;
  int64_t m_, c_;
  RowActivation act_;
  bool has_b_;
  const void* w_source_;
  Tensor w_, b_;  // packed
  mutable std::once_flag unpacked_once_;
  mutable Value plain_w_;  // set once under unpacked_once_
};

// Attribute `name` absent, or exactly one of `values` (anything else, malformed ones included, is left
// to the kernels below, whose errors are the reference's).
bool absent_or(const ir::Node& node, const char* name, std::initializer_list<std::vector<int64_t>> values) {
  if (!node.has_attr(name)) return true;
  const std::vector<int64_t> v = node.attr_ints(name);
  return std::find(values.begin(), values.end(), v) != values.end();
}

// True for a 1x1, stride 1, unpadded, ungrouped convolution of blocked X without input activation.
bool is_pointwise(const ir::Node& node, const Tensor& w) {
  const std::string auto_pad = node.has_attr("auto_pad") ? node.attr_string("auto_pad") : "NOTSET";
  return w.rank() == 4 && w.dim(2) == 1 && w.dim(3) == 1 && node.attr_int("group", 1) == 1 &&
         absent_or(node, "kernel_shape", {{1, 1}}) && absent_or(node, "strides", {{1, 1}}) &&
         absent_or(node, "pads", {{0, 0, 0, 0}}) && absent_or(node, "dilations", {{1, 1}}) && auto_pad == "NOTSET" &&
         !blocked_conv_plain_input(node) && !node.has_attr(kInputActivationAttr) && node.inputs.size() <= 4;
}

Expected<std::unique_ptr<Kernel>> make_blocked_pointwise_conv(const KernelBuildContext& b) {
  const Tensor* w = b.constant(1);
  auto act = parse_blocked_conv_activation(b.node);
  const bool has_sum = b.node.inputs.size() == 4 && !b.node.inputs[3].empty();
  const bool takes = detected_isa() == Isa::kAvx512 && w != nullptr && w->dtype() == DataType::kFloat32 &&
                     is_pointwise(b.node, *w) && w->size() > 0 && w->dim(0) <= w->dim(1) &&
                     w->size() * 4 <= (has_sum ? kMaxSumWeightBytes : kMaxWeightBytes) && act.ok() &&
                     activation_keeps_zero(*act);
  const bool has_b = b.node.inputs.size() > 2 && !b.node.inputs[2].empty();
  const Tensor* bias = has_b ? b.constant(2) : nullptr;
  if (!takes ||
      (has_b && (bias == nullptr || bias->dtype() != DataType::kFloat32 || bias->shape() != Shape{w->dim(0)}))) {
    const KernelRegistration* below =
        KernelRegistry::global().find_below(b.node.domain, b.node.op_type, b.opset, kPointwisePriority);
    if (below == nullptr) return Status::Unimplemented("no kernel below the pointwise one for " + b.node.op_type);
    return below->factory(b);
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  const int64_t m = w->dim(0), c = w->dim(1);
  return std::unique_ptr<Kernel>(std::make_unique<VecBlockedPointwiseConv>(
      std::move(reference), m, c, row_activation(*act), has_b, w->raw(), pack_lanes(*w, m, c), pack_bias(bias, m)));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedConv", 1, 1, kPointwisePriority, make_blocked_pointwise_conv);

}  // namespace kiln::vec
