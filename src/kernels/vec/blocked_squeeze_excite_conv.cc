// kiln.BlockedSqueezeExciteConv, vectorized (the operator: kernels/blocked_squeeze_excite_conv_attrs.h):
// the squeeze-excite gate g (vec/squeeze_excite_gate.h), then the 1x1 convolution with its weights
// scaled by g per image, Conv(X * g, W) = Conv(X, W * g), in the 1x1 vector kernel's tiles
// (vec/pointwise_units.h). The pass over X that scaled it (read and write, then read again by the
// convolution) becomes a pass over W, C x M floats per image against C x H x W.
//
// Taken per call where M (rounded up to 16) is at most H x W, so that the weights are the smaller
// tensor, at AVX-512, for weights the 1x1 vector kernel takes without a residual (up to 384 KB: it is
// the faster kernel there); in EfficientNet-B0 at 224 x 224, the projections of its first 11 blocks
// (the last 5, at 7 x 7 with 192-320 outputs, scale X). Every other call runs the two kernels the node
// stands for (SqueezeExciteThenConv), built from the registry as the graph would have them.
#pragma GCC diagnostic ignored "-Wpsabi"  // Vec<W> never crosses a call: see reduce_loops.cc

#include <omp.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_layout.h"
#include "kernels/blocked_squeeze_excite_attrs.h"
#include "kernels/blocked_squeeze_excite_conv_attrs.h"
#include "kernels/reference_fallbacks.h"
#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/packed_lanes.h"
#include "kernels/vec/parallel_chunks.h"
#include "kernels/vec/pointwise_units.h"
#include "kernels/vec/reference_fallback.h"
#include "kernels/vec/row_activation.h"
#include "kernels/vec/squeeze_excite_gate.h"

namespace kiln::vec {
namespace {

using squeeze_excite::kPadding;

// The 1x1 vector kernel's limit on weights without a residual (vec/blocked_pointwise_conv.cc).
constexpr int64_t kMaxWeightBytes = int64_t{384} << 10;

// Multiply-adds per thread before a team shares the work: the 1x1 vector kernel's grain.
constexpr int64_t kGrainMacs = int64_t{1} << 19;

// scaled[k][0, 16) = w[k][0, 16) * gate[k] for the k < c input channels of one 16-lane weight group.
template <int W>
struct ScaleWeightsLoop {
  KILN_SIMD_INLINE static void run(const float* w, const float* gate, float* scaled, int64_t c) {
    for (int64_t k = 0; k < c; ++k) {
      const Vec<W> g = splat<W>(gate[k]);
      for (int64_t l = 0; l < kPackedLanes; l += W) {
        store<W>(scaled + k * kPackedLanes + l, load<W>(w + k * kPackedLanes + l) * g);
      }
    }
  }
};
using ScaleWeightsFn = void (*)(const float*, const float*, float*, int64_t);

// The packed constants of one node.
struct Packed {
  squeeze_excite::Weights gate;
  int64_t m = 0;  // the convolution's output channels
  Tensor w, b;    // W as [ceil(m/16)][c][16], B as [ceil(m/16) * 16] (packed_lanes.h)
  bool has_b = false;
  const void* w_source = nullptr;  // the constant W as the plan holds it
  RowActivation act;
};

class VecBlockedSqueezeExciteConv : public Kernel {
 public:
  VecBlockedSqueezeExciteConv(std::unique_ptr<Kernel> steps, Packed packed)
      : steps_(std::move(steps)),
        p_(std::move(packed)),
        loops_(squeeze_excite::gate_loops_for(detected_isa())),
        scale_weights_(loop_for<ScaleWeightsLoop, const float*, const float*, float*, int64_t>(detected_isa())) {}

  // The steps kernel runs every call this one does not take, so it decides what the plan may free;
  // this kernel reads only its own packed copies.
  bool releases_constant(size_t i) const override { return steps_->releases_constant(i); }

  Status run(KernelContext& ctx) const override {
    const squeeze_excite::Weights& g = p_.gate;
    if (!is_float32_tensor(ctx, 0) || ctx.has_input(2) != g.has_b1 || ctx.has_input(4) != g.has_b2 ||
        ctx.has_input(kConvB) != p_.has_b ||
        (ctx.tensor(kConvW).defined() && ctx.tensor(kConvW).raw() != p_.w_source)) {
      return run_steps(ctx);
    }
    const Tensor& x = ctx.tensor(0);
    const int64_t block = channel_block_of(x.shape());
    if (x.rank() != 5 || (block != 8 && block != 16) || x.dim(1) != channel_blocks(g.c, block) || x.size() == 0) {
      return run_steps(ctx);
    }
    const int64_t n = x.dim(0), hw = x.dim(2) * x.dim(3), mp = channel_blocks(p_.m, kPackedLanes) * kPackedLanes;
    if (mp > hw) return run_steps(ctx);  // scaling X costs less than scaling W
    const Shape z_shape{n, channel_blocks(p_.m, block), x.dim(2), x.dim(3), block};
    const bool has_sum = ctx.has_input(kConvSum);
    if (has_sum && !(is_float32_tensor(ctx, kConvSum) && ctx.tensor(kConvSum).shape() == z_shape)) {
      return run_steps(ctx);
    }
    Tensor z = ctx.output0_tensor(DataType::kFloat32, z_shape);
    Tensor pooled(DataType::kFloat32, {n, g.cp}, Tensor::Init::kUninitialized);
    Tensor reduced(DataType::kFloat32, {n, g.rp}, Tensor::Init::kUninitialized);
    Tensor gates(DataType::kFloat32, {n, g.cp}, Tensor::Init::kUninitialized);
    Tensor scaled(DataType::kFloat32, {n, mp * g.c}, Tensor::Init::kUninitialized);
    const pointwise::Call call(x.data<float>(), scaled.data<float>(), mp * g.c, p_.b.data<float>(),
                               has_sum ? ctx.tensor(kConvSum).data<float>() : nullptr, z.data<float>(), n, g.c, p_.m,
                               block, x.dim(1), hw, p_.act);
    const Arrays arrays{.gate = {.x = x.data<float>(),
                                 .pooled = pooled.data<float>(),
                                 .reduced = reduced.data<float>(),
                                 .n = n,
                                 .blocks = x.dim(1),
                                 .block = block,
                                 .hw = hw},
                        .gates = gates.data<float>(),
                        .scaled = scaled.data<float>(),
                        .call = call};
    const int team = row_chunk_threads(call.units(), call.unit_macs(), kGrainMacs);
    if (team == 1) {
      run_part(arrays, 0, 1);
    } else {
#pragma omp parallel num_threads(team)
      run_part(arrays, omp_get_thread_num(), omp_get_num_threads());
    }
    ctx.set_output(0, Value(std::move(z)));
    return Status::OK();
  }

 private:
  // A call this kernel hands over, counted as its hand-overs to the reference are
  // (kernels/reference_fallbacks.h), so that the op tests can tell that their cases scaled the weights.
  Status run_steps(KernelContext& ctx) const {
    count_reference_fallback();
    return steps_->run(ctx);
  }

  struct Arrays {
    squeeze_excite::GateArrays gate;
    float* gates;   // [n][cp]
    float* scaled;  // [n][ceil(m/16)][c][16]: call.w
    const pointwise::Call& call;
  };

  // Thread `t` of a team of `team` (1: alone): its share of each step, a barrier between steps (met
  // only on a team; see squeeze_excite::pool_and_reduce): the means and the reducing product, the
  // gates (each image's channels in ranges of kPadding), the scaled weights (per image, 16-lane
  // groups of M), then its range of the convolution's units.
  void run_part(const Arrays& a, int t, int team) const {
    const squeeze_excite::Weights& g = p_.gate;
    const int64_t n = a.gate.n, rows = n * a.gate.blocks;
    auto share = [t, team](int64_t items, int64_t* begin, int64_t* end) {
      const int64_t chunk = (items + team - 1) / team;
      *begin = std::min<int64_t>(items, t * chunk);
      *end = std::min<int64_t>(items, *begin + chunk);
    };
    int64_t begin, end;
    share(rows, &begin, &end);
    squeeze_excite::pool_and_reduce(loops_, g, a.gate, begin, end, t, team);
    const int64_t gate_groups = g.cp / kPadding;
    share(n * gate_groups, &begin, &end);
    for (int64_t item = begin; item < end;) {  // runs of groups within one image
      const int64_t image = item / gate_groups, first = item % gate_groups;
      const int64_t last = std::min(end, (image + 1) * gate_groups) - image * gate_groups;
      loops_.expand(&g, a.gate.reduced + image * g.rp, first * kPadding, last * kPadding,
                    a.gates + image * g.cp + first * kPadding);
      item += last - first;
    }
    if (team > 1) {
#pragma omp barrier
    }
    const int64_t w_groups = p_.w.dim(0), group_floats = g.c * kPackedLanes;
    share(n * w_groups, &begin, &end);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t image = item / w_groups, group = item % w_groups;
      scale_weights_(p_.w.data<float>() + group * group_floats, a.gates + image * g.cp, a.scaled + item * group_floats,
                     g.c);
    }
    if (team > 1) {
#pragma omp barrier
    }
    share(a.call.units(), &begin, &end);
    if (begin < end) pointwise::run_units(a.call, begin, end);
  }

  std::unique_ptr<Kernel> steps_;
  Packed p_;
  squeeze_excite::GateLoops loops_;
  ScaleWeightsFn scale_weights_;
};

// The fused node as the two kernels it stands for, the best registered, given its constants.
Expected<std::unique_ptr<Kernel>> build_steps(const KernelBuildContext& b) {
  std::vector<const Tensor*> se_constants, conv_constants{nullptr};
  for (size_t i = 0; i < kSqueezeExciteInputs; ++i) se_constants.push_back(b.constant(i));
  for (size_t i : {kConvW, kConvB, kConvSum}) conv_constants.push_back(b.constant(i));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> squeeze_excite,
                        build_best_kernel(squeeze_excite_node_of(b.node), 1, se_constants));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> conv, build_best_kernel(projection_node_of(b.node), 1, conv_constants));
  return std::unique_ptr<Kernel>(std::make_unique<SqueezeExciteThenConv>(std::move(squeeze_excite), std::move(conv)));
}

// Packs the constants when this kernel takes the node; false when it does not.
bool pack(const KernelBuildContext& b, Packed* p) {
  const ir::Node se = squeeze_excite_node_of(b.node);
  auto reduce = parse_blocked_conv_activation(squeeze_excite_conv_node(se, "reduce"));
  auto expand = parse_blocked_conv_activation(squeeze_excite_conv_node(se, "expand"));
  auto act = parse_blocked_conv_activation(b.node);
  if (detected_isa() != Isa::kAvx512 || !reduce.ok() || !expand.ok() || !act.ok() || !activation_keeps_zero(*act) ||
      !squeeze_excite::to_activation(*reduce, &p->gate.reduce) ||
      !squeeze_excite::to_activation(*expand, &p->gate.expand) || !squeeze_excite::pack(b, &p->gate)) {
    return false;
  }
  const int64_t c = p->gate.c;
  const Tensor* w = b.constant(kConvW);
  if (w == nullptr || w->dtype() != DataType::kFloat32 || w->rank() != 4 || w->dim(1) != c || w->dim(2) != 1 ||
      w->dim(3) != 1 || w->dim(0) == 0 || w->size() * 4 > kMaxWeightBytes) {
    return false;
  }
  p->m = w->dim(0);
  p->has_b = b.node.inputs.size() > kConvB && !b.node.inputs[kConvB].empty();
  const Tensor* bias = p->has_b ? squeeze_excite::constant_of_shape(b, kConvB, {p->m}) : nullptr;
  if (p->has_b && bias == nullptr) return false;
  p->w = pack_lanes(*w, p->m, c);
  p->b = pack_bias(bias, p->m);
  p->w_source = w->raw();
  p->act = row_activation(*act);
  return true;
}

Expected<std::unique_ptr<Kernel>> make_blocked_squeeze_excite_conv(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> steps, build_steps(b));
  Packed packed;
  if (!pack(b, &packed)) return steps;
  return std::unique_ptr<Kernel>(std::make_unique<VecBlockedSqueezeExciteConv>(std::move(steps), std::move(packed)));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedSqueezeExciteConv", 1, 1, kVecPriority, make_blocked_squeeze_excite_conv);

}  // namespace kiln::vec
