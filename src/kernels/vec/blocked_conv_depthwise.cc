// kiln.BlockedConvDepthwise on the vector units (the operator: kernels/blocked_conv_depthwise_attrs.h):
// Y = depthwise_activation(DepthwiseConv(activation(Conv1x1(X, W, B)), DW, DB)) on the blocked layout,
// in one pass over Y, the expanded tensor never leaving the cache.
//
// Per image and group of 2 or 3 channel blocks of Y (planes), or per band of their rows where the groups
// are fewer than two per thread, output rows in order; each expanded row the depthwise kernel needs is
// computed for the group's blocks into a ring of the kernel's height of rows (depthwise_rows.h, as the
// stem kernel fills its ring) by the 1x1 tiles of pointwise_rows.h (7 pixels x 3 blocks, reading X in
// place, activated in registers), and read by the same depthwise row code.
//
// What it replaces: EfficientNet's expansion (SiLU) and its 3x3 or 5x5 depthwise convolution were two
// nodes, since oneDNN 2.6 fuses a depthwise post-op only 3x3 and with its own, slower SiLU; the
// expanded tensor (4.8 MB for the first block at 224x224) went to memory and back. MobileNetV2's
// pairs ran on oneDNN's fused primitive, whose expansion reached 130-170 GFLOP/s in the network
// against 183-215 for these tiles alone.
//
// Weights are packed at build: W as [ceil(M/16)][C][16], DW as [ceil(M/16)][k * k][16], the biases as
// [ceil(M/16) * 16], zero past M, so Y's padding lanes stay 0 under the activations taken here (they
// keep 0 at 0: activation_keeps_zero); the expanded rows' padding lanes are zeroed, for an X with an
// infinite or NaN value. W and DW's plain copies are released; a call the kernel does not take gets
// them back, unpacked, for the reference.
#pragma GCC diagnostic ignored "-Wpsabi"  // Vec<W> never crosses a call: see reduce_loops.cc

#include <omp.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "kernels/blocked_conv_depthwise_attrs.h"
#include "kernels/blocked_layout.h"
#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/depthwise_rows.h"
#include "kernels/vec/packed_lanes.h"
#include "kernels/vec/parallel_chunks.h"
#include "kernels/vec/pointwise_rows.h"
#include "kernels/vec/reference_fallback.h"
#include "kernels/vec/simd_math.h"

namespace kiln::vec {
namespace {

using depthwise::depthwise_plane;
using depthwise::kPackLanes;
using depthwise::Plane;
using depthwise::ring_plane_rows;
using depthwise::RingPlanes;

// Above the oneDNN kernel (kDnnlPriority, 10), to which it hands the activations it does not compute.
constexpr int kConvDepthwisePriority = 20;

// The most channel blocks of Y expanded together (pointwise::BlockGroups makes groups of 2 or 3:
// MobileNetV2's and EfficientNet's expanded channel counts are all multiples of 3 blocks of 16).
constexpr int64_t kGroup = pointwise::kGroup;

// The call's arguments, one struct for the dispatch below.
struct Call {
  const float* x;
  const float* w;
  const float* b;
  const float* dw_w;
  const float* dw_b;
  float* y;
  Plane plane;
  int64_t c, m, block, in_blocks, blocks, bands, dw_kernel, dw_stride;
  pointwise::BlockGroups groups;
  RowActivation act, dw_act;
};

// The work units [begin, end), (image * bands + band) * groups + group: a band of output rows of a
// group of planes, with the block, kernel and stride fixed. Units of one band are consecutive, so that
// a thread takes every block of its rows.
template <int W, int B, int KD, int SD>
KILN_SIMD_INLINE void planes(const Call& c, int64_t begin, int64_t end, float* scratch) {
  constexpr int V = W < B ? W : B;  // blocks of 8 lanes run 8-wide even where 16 would fit
  const Plane& p = c.plane;
  float* ring = scratch;
  // The padding columns, which no row writes.
  std::fill(ring, ring + p.kh * std::min(kGroup, c.blocks) * p.ring_width * B, 0.0f);
  const int64_t in_plane = p.h * p.w * B;
  for (int64_t u = begin; u < end; ++u) {
    const int64_t group = u % c.groups.count, band = u / c.groups.count % c.bands;
    const int64_t n = u / c.groups.count / c.bands;
    pointwise::Group g;
    int64_t lanes[kGroup];
    RingPlanes planes;
    g.count = planes.count = c.groups.size(group);
    for (int64_t q = 0; q < g.count; ++q) {
      const int64_t block = c.groups.first(group) + q;
      // A block of 8 reads lanes [0, 8) or [8, 16) of its 16-lane weight group.
      const int64_t lanes16 = block * B / kPackLanes, lane0 = block * B % kPackLanes;
      g.w[q] = c.w + lanes16 * c.c * kPackLanes + lane0;
      g.b[q] = c.b + block * B;
      g.sum[q] = nullptr;
      lanes[q] = std::min<int64_t>(B, c.m - block * B);
      planes.dw_w[q] = c.dw_w + lanes16 * KD * KD * kPackLanes + lane0;
      planes.dw_b[q] = c.dw_b + block * B;
      planes.y[q] = c.y + (n * c.blocks + block) * p.oh * p.ow * B;
    }
    const float* x = c.x + n * c.in_blocks * in_plane;
    // Expanded row iy of the group's blocks, activated, into the ring.
    auto make_rows = [&](int64_t iy, float* row, int64_t row_stride) {
      pointwise::rows<V, B>(pointwise::Input{x + iy * p.w * B, in_plane, c.c}, g, c.act, p.w, row, row_stride);
      for (int64_t q = 0; q < g.count; ++q) zero_padding_lanes<B>(row + q * row_stride, p.w, lanes[q]);
    };
    ring_plane_rows<V, B, KD, SD>(p, planes, make_rows, c.dw_act, p.oh * band / c.bands, p.oh * (band + 1) / c.bands,
                                  ring);
  }
}

// Loop<W> for cpu_isa.h's loop_for: dispatches on the block, the depthwise kernel and its stride.
template <int W>
struct ConvDepthwiseLoop {
  KILN_SIMD_INLINE static void run(const Call* c, int64_t begin, int64_t end, float* scratch) {
    if (c->block == 8) return by_kernel<8>(*c, begin, end, scratch);
    by_kernel<16>(*c, begin, end, scratch);
  }
  template <int B>
  KILN_SIMD_INLINE static void by_kernel(const Call& c, int64_t begin, int64_t end, float* scratch) {
    if (c.dw_kernel == 3) {
      return c.dw_stride == 1 ? planes<W, B, 3, 1>(c, begin, end, scratch) : planes<W, B, 3, 2>(c, begin, end, scratch);
    }
    return c.dw_stride == 1 ? planes<W, B, 5, 1>(c, begin, end, scratch) : planes<W, B, 5, 2>(c, begin, end, scratch);
  }
};

using ConvDepthwiseFn = void (*)(const Call*, int64_t, int64_t, float*);

// Planes split across the intra-op team (for_each_row_chunk) from this many output elements per thread.
constexpr int64_t kGrain = int64_t{1} << 14;

class VecBlockedConvDepthwise : public Kernel {
 public:
  struct Config {
    int64_t m = 0, c = 0, dw_kernel = 3, dw_stride = 1;
    RowActivation act, dw_act;
    bool has_b = false, has_db = false;
  };

  // w_source and dw_source: the constants W and DW as the plan holds them, until it releases them.
  VecBlockedConvDepthwise(std::unique_ptr<Kernel> reference, Config config, const void* w_source, const void* dw_source,
                          Tensor w, Tensor b, Tensor dw_w, Tensor dw_b)
      : reference_(std::move(reference)),
        cfg_(config),
        w_source_(w_source),
        dw_source_(dw_source),
        w_(std::move(w)),
        b_(std::move(b)),
        dw_w_(std::move(dw_w)),
        dw_b_(std::move(dw_b)),
        loop_(loop_for<ConvDepthwiseLoop, const Call*, int64_t, int64_t, float*>(detected_isa())) {}

  bool releases_constant(size_t i) const override { return i == 1 || i == 3; }

  Status run(KernelContext& ctx) const override {
    // W or DW other than the constants packed at build (absent once released), biases given at run time
    // or absent where the build had them: the reference.
    auto is_packed = [&ctx](size_t i, const void* source) {
      return !ctx.tensor(i).defined() || ctx.tensor(i).raw() == source;
    };
    if (!is_float32_tensor(ctx, 0) || !is_packed(1, w_source_) || !is_packed(3, dw_source_) ||
        ctx.has_input(2) != cfg_.has_b || ctx.has_input(4) != cfg_.has_db) {
      return run_reference(ctx);
    }
    const Tensor& x = ctx.tensor(0);
    const int64_t block = channel_block_of(x.shape());
    if (x.rank() != 5 || (block != 8 && block != 16) || x.dim(1) != channel_blocks(cfg_.c, block) || x.size() == 0) {
      return run_reference(ctx);  // the reference names the problem
    }
    Call call{};
    // Padded by half the window, the plane is never smaller than it.
    const int64_t pad = cfg_.dw_kernel / 2;
    call.plane = *depthwise_plane(x.dim(2), x.dim(3), cfg_.dw_kernel, cfg_.dw_stride, pad, pad);
    const Plane& p = call.plane;
    const int64_t n = x.dim(0), blocks = channel_blocks(cfg_.m, block);
    Tensor y = ctx.output0_tensor(DataType::kFloat32, {n, blocks, p.oh, p.ow, block});
    call.x = x.data<float>();
    call.w = w_.data<float>();
    call.b = b_.data<float>();
    call.dw_w = dw_w_.data<float>();
    call.dw_b = dw_b_.data<float>();
    call.y = y.data<float>();
    call.c = cfg_.c;
    call.m = cfg_.m;
    call.block = block;
    call.in_blocks = x.dim(1);
    call.blocks = blocks;
    call.groups = pointwise::BlockGroups(blocks);
    // Bands of rows where the groups are too few to share among the team; each band computes the
    // expanded rows its first output rows need once more.
    const int team = omp_in_parallel() ? 1 : omp_get_max_threads();
    call.bands = n * call.groups.count >= 2 * team ? 1 : std::min<int64_t>(team, p.oh);
    call.dw_kernel = cfg_.dw_kernel;
    call.dw_stride = cfg_.dw_stride;
    call.act = cfg_.act;
    call.dw_act = cfg_.dw_act;
    const size_t scratch_floats = static_cast<size_t>(p.kh * std::min(kGroup, blocks) * p.ring_width * block);
    const int64_t unit_elements = std::min(kGroup, blocks) * p.oh * p.ow * block / call.bands;
    const bool done = for_each_row_chunk_with_scratch(
        n * call.bands * call.groups.count, unit_elements, kGrain, ScratchSlot::kDepthwiseRing, scratch_floats,
        [&](int64_t begin, int64_t end, float* scratch) { loop_(&call, begin, end, scratch); });
    if (!done) return Status::ResourceExhausted("1x1 and depthwise convolution: no memory for its rows");
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  // The reference, with W and DW unpacked where the plan released them (made once, on first need).
  Status run_reference(KernelContext& ctx) const {
    std::call_once(unpacked_once_, [this] {
      plain_w_ = Value(unpack_lanes(w_, {cfg_.m, cfg_.c, 1, 1}));
      plain_dw_ = Value(unpack_lanes(dw_w_, {cfg_.m, 1, cfg_.dw_kernel, cfg_.dw_kernel}));
    });
    return run_counted_reference(*reference_, ctx, {{1, &plain_w_}, {3, &plain_dw_}});
  }

  std::unique_ptr<Kernel> reference_;
  Config cfg_;
  const void* w_source_;
  const void* dw_source_;
  Tensor w_, b_, dw_w_, dw_b_;  // packed
  ConvDepthwiseFn loop_;
  mutable std::once_flag unpacked_once_;
  mutable Value plain_w_, plain_dw_;  // set once under unpacked_once_
};

Expected<std::unique_ptr<Kernel>> make_blocked_conv_depthwise(const KernelBuildContext& b) {
  // Activations this kernel does not compute: the oneDNN kernel's (or, without it, the reference's).
  auto act = parse_blocked_conv_activation(conv_depthwise_pointwise_node(b.node));
  auto dw_act = parse_blocked_conv_activation(conv_depthwise_depthwise_node(b.node, 1, 3));
  if (act.ok() && dw_act.ok() && (!activation_keeps_zero(*act) || !activation_keeps_zero(*dw_act))) {
    const KernelRegistration* below =
        KernelRegistry::global().find_below(b.node.domain, b.node.op_type, b.opset, kConvDepthwisePriority);
    if (below == nullptr) return Status::Unimplemented("no kernel below the vector one for " + b.node.op_type);
    return below->factory(b);
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  const Tensor* w = b.constant(1);
  const Tensor* dw = b.constant(3);
  const auto is_float = [](const Tensor* t) { return t != nullptr && t->dtype() == DataType::kFloat32; };
  const int64_t stride = b.node.attr_int(kDepthwiseStrideAttr, 1);
  if (!act.ok() || !dw_act.ok() || !is_float(w) || !is_float(dw) || w->rank() != 4 || w->dim(2) != 1 ||
      w->dim(3) != 1 || w->size() == 0 || dw->rank() != 4 || !conv_depthwise_kernel_ok(dw->dim(2)) ||
      dw->shape() != Shape{w->dim(0), 1, dw->dim(2), dw->dim(2)} || (stride != 1 && stride != 2)) {
    return reference;  // it reports or handles the problem
  }
  VecBlockedConvDepthwise::Config cfg;
  cfg.m = w->dim(0);
  cfg.c = w->dim(1);
  cfg.dw_kernel = dw->dim(2);
  cfg.dw_stride = stride;
  cfg.act = row_activation(*act);
  cfg.dw_act = row_activation(*dw_act);
  const std::optional<BlockBiases> biases = block_biases(b, cfg.m);
  if (!biases) return reference;
  cfg.has_b = biases->b != nullptr;
  cfg.has_db = biases->db != nullptr;
  return std::unique_ptr<Kernel>(std::make_unique<VecBlockedConvDepthwise>(
      std::move(reference), cfg, w->raw(), dw->raw(), pack_lanes(*w, cfg.m, cfg.c), pack_bias(biases->b, cfg.m),
      pack_lanes(*dw, cfg.m, cfg.dw_kernel * cfg.dw_kernel), pack_bias(biases->db, cfg.m)));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedConvDepthwise", 1, 1, kConvDepthwisePriority,
                              make_blocked_conv_depthwise);

}  // namespace kiln::vec
