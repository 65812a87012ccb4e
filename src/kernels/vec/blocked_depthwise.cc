// kiln.BlockedConv with input_activation Swish (kernels/blocked_conv_attrs.h) for a depthwise
// convolution: Y = activation(DepthwiseConv(SiLU(X), W, B)), activation none or SiLU, on the blocked
// layout, 3x3 or 5x5, stride 1 or 2, in one pass over X and one over Y.
//
// EfficientNet's blocks expand with a 1x1 convolution, apply SiLU, convolve depthwise and apply SiLU
// again. With oneDNN each SiLU was a pass of its own over a tensor that had just left the cache
// (vec::silu_in_place after the primitive): on efficientnet_b0 at batch 1 those passes took more time
// than the depthwise convolutions themselves (about 1.7 ms of SiLU against 0.85 ms of convolution per
// image, one thread, measured apart). opt/move_swish_into_depthwise.cc moves the expansion's SiLU
// onto this node's input; here each input row is activated once, as it enters a ring of the kernel's
// height of rows, and each output row as soon as it is computed, while both are in L1.
//
// Per image and channel block (a plane of H x W pixels of B lanes): output rows in order; for each, the
// input rows it needs come from the ring (activated, with the padding columns zero); a row of outputs
// is computed in tiles of 8 pixels and one tile of the rest, whose inputs for one kernel row are
// loaded once and reused across the kernel's columns. Planes are independent, so a team splits them.
//
// Each thread's ring is scratch of its own, 64-byte aligned (kernels/thread_scratch.h): a thread_local
// vector (malloc's 16 bytes) had 16-lane loads straddle two cache lines (efficientnet_b0, 1 thread,
// batch 1: 6.94 -> 6.82 ms, A/B).
//
// Weights are packed once at build as [ceil(C/16)][kh * kw][16] (a block of 8 reads half of one),
// the bias as [ceil(C/16) * 16], zero past C, so that Y's padding lanes stay 0 (SiLU(0) = 0). The
// plain W stays with the plan: it is small, and the reference (kept for inputs this kernel does not
// take) reads it.
#pragma GCC diagnostic ignored "-Wpsabi"  // Vec<W> never crosses a call: see reduce_loops.cc

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_depthwise_attrs.h"
#include "kernels/blocked_layout.h"
#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/depthwise_rows.h"
#include "kernels/vec/packed_lanes.h"
#include "kernels/vec/parallel_chunks.h"
#include "kernels/vec/reference_fallback.h"
#include "kernels/vec/simd_math.h"
#include "kernels/vec/unary_loops.h"

namespace kiln::vec {
namespace {

using depthwise::depthwise_plane;
using depthwise::kPackLanes;
using depthwise::Plane;
using depthwise::ring_plane_rows;
using depthwise::RingPlanes;
using depthwise::silu_row;

// Above the 1x1 vector kernel (vec/blocked_pointwise_conv.cc, 15) and oneDNN's (kDnnlPriority, 10), to
// which it hands every node without input_activation.
constexpr int kBlockedDepthwisePriority = 20;

// The planes [begin, end) of one call, with X's block B, kernel KW and stride S fixed: each input row
// SiLU'd into the ring once per plane (ring_plane_rows), each output row activated as it is stored.
template <int W, int B, int KW, int S>
KILN_SIMD_INLINE void planes(const float* x, const float* wt, const float* bias, float* y, const Plane& p,
                             bool silu_out, int64_t blocks, int64_t begin, int64_t end, float* ring) {
  // Zeroed for the padding columns, which no row copy writes.
  std::fill(ring, ring + p.kh * p.ring_width * B, 0.0f);
  RowActivation out_act;
  out_act.active = silu_out;
  out_act.fn = UnaryFn{UnaryOp::kSwish};
  for (int64_t i = begin; i < end; ++i) {
    const int64_t block = i % blocks;  // the channel block within its image
    // A block of 8 reads lanes [0, 8) or [8, 16) of its 16-lane weight group.
    const int64_t group = block * B / kPackLanes, lane0 = block * B % kPackLanes;
    const float* xi = x + i * p.h * p.w * B;
    RingPlanes one;
    one.dw_w[0] = wt + group * KW * KW * kPackLanes + lane0;
    one.dw_b[0] = bias + block * B;
    one.y[0] = y + i * p.oh * p.ow * B;
    auto make_row = [&](int64_t iy, float* row, int64_t) { silu_row(xi + iy * p.w * B, row, p.w * B); };
    ring_plane_rows<W, B, KW, S>(p, one, make_row, out_act, 0, p.oh, ring);
  }
}

// Loop<W> for cpu_isa.h's loop_for: dispatches on the block, kernel size, stride and output SiLU.
template <int W>
struct DepthwiseLoop {
  KILN_SIMD_INLINE static void run(const float* x, const float* wt, const float* bias, float* y, const Plane* p,
                                   int64_t block, int64_t kernel, int64_t stride, bool silu_out, int64_t blocks,
                                   int64_t begin, int64_t end, float* ring) {
    if (block == 8) return dispatch<8>(x, wt, bias, y, *p, kernel, stride, silu_out, blocks, begin, end, ring);
    dispatch<16>(x, wt, bias, y, *p, kernel, stride, silu_out, blocks, begin, end, ring);
  }

  // Blocks of 8 lanes run 8-wide even where 16 would fit (their pixels are 8 floats apart).
  template <int B>
  KILN_SIMD_INLINE static void dispatch(const float* x, const float* wt, const float* bias, float* y, const Plane& p,
                                        int64_t kernel, int64_t stride, bool silu_out, int64_t blocks, int64_t begin,
                                        int64_t end, float* ring) {
    constexpr int V = W < B ? W : B;
    if (kernel == 3) {
      return stride == 1 ? planes<V, B, 3, 1>(x, wt, bias, y, p, silu_out, blocks, begin, end, ring)
                         : planes<V, B, 3, 2>(x, wt, bias, y, p, silu_out, blocks, begin, end, ring);
    }
    return stride == 1 ? planes<V, B, 5, 1>(x, wt, bias, y, p, silu_out, blocks, begin, end, ring)
                       : planes<V, B, 5, 2>(x, wt, bias, y, p, silu_out, blocks, begin, end, ring);
  }
};

using DepthwiseFn = void (*)(const float*, const float*, const float*, float*, const Plane*, int64_t, int64_t, int64_t,
                             bool, int64_t, int64_t, int64_t, float*);

// Planes split across the intra-op team (for_each_row_chunk) from this many output elements per
// thread: like the squeeze-excite kernel's grain, small, because X was just written by the whole team.
constexpr int64_t kGrain = int64_t{1} << 14;

class VecBlockedDepthwise : public Kernel {
 public:
  VecBlockedDepthwise(std::unique_ptr<Kernel> reference, int64_t channels, int64_t kernel, int64_t stride,
                      int64_t pad_top, int64_t pad_left, bool silu_out, Tensor packed_w, Tensor packed_b, bool has_bias)
      : reference_(std::move(reference)),
        channels_(channels),
        kernel_(kernel),
        stride_(stride),
        pad_top_(pad_top),
        pad_left_(pad_left),
        silu_out_(silu_out),
        packed_w_(std::move(packed_w)),
        packed_b_(std::move(packed_b)),
        has_bias_(has_bias),
        loop_(loop_for<DepthwiseLoop, const float*, const float*, const float*, float*, const Plane*, int64_t, int64_t,
                       int64_t, bool, int64_t, int64_t, int64_t, float*>(detected_isa())) {}

  Status run(KernelContext& ctx) const override {
    // A Sum, a bias given at run time or a W other than the packed constant: the reference.
    if (!is_float32_tensor(ctx, 0) || ctx.has_input(3) || ctx.has_input(2) != has_bias_) return run_reference(ctx);
    const Tensor& x = ctx.tensor(0);
    const int64_t block = channel_block_of(x.shape());
    if (x.rank() != 5 || (block != 8 && block != 16) || x.dim(1) != channel_blocks(channels_, block)) {
      return run_reference(ctx);  // the reference names the problem
    }
    const std::optional<Plane> plane = depthwise_plane(x.dim(2), x.dim(3), kernel_, stride_, pad_top_, pad_left_);
    if (!plane) return run_reference(ctx);
    const Plane& p = *plane;
    const int64_t n = x.dim(0), blocks = x.dim(1), count = n * blocks;
    Tensor y = ctx.output0_tensor(DataType::kFloat32, {n, blocks, p.oh, p.ow, block});
    const float* xp = x.data<float>();
    float* yp = y.data<float>();
    const int64_t plane_elements = p.oh * p.ow * block;
    const size_t ring_floats = static_cast<size_t>(p.kh * p.ring_width * block);
    const bool done =
        for_each_row_chunk_with_scratch(count, plane_elements, kGrain, ScratchSlot::kDepthwiseRing, ring_floats,
                                        [&](int64_t begin, int64_t end, float* ring) {
                                          loop_(xp, packed_w_.data<float>(), packed_b_.data<float>(), yp, &p, block,
                                                kernel_, stride_, silu_out_, blocks, begin, end, ring);
                                        });
    if (!done) return Status::ResourceExhausted("depthwise convolution: no memory for its rows");
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  Status run_reference(KernelContext& ctx) const { return run_counted_reference(*reference_, ctx); }

  std::unique_ptr<Kernel> reference_;
  int64_t channels_, kernel_, stride_, pad_top_, pad_left_;
  bool silu_out_;
  Tensor packed_w_, packed_b_;
  bool has_bias_;
  DepthwiseFn loop_;
};

Expected<std::unique_ptr<Kernel>> make_blocked_depthwise(const KernelBuildContext& b) {
  if (!blocked_conv_input_swish(b.node)) {
    // Not this kernel's node: the next one down's (the 1x1 vector kernel, oneDNN's or the reference).
    const KernelRegistration* below =
        KernelRegistry::global().find_below(b.node.domain, b.node.op_type, b.opset, kBlockedDepthwisePriority);
    if (below == nullptr) return Status::Unimplemented("no kernel below the depthwise one for " + b.node.op_type);
    return below->factory(b);
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  const Tensor* w = b.constant(1);
  const std::optional<DepthwiseWindow> win =
      w != nullptr && w->dtype() == DataType::kFloat32 ? depthwise_window(b.node, w->shape()) : std::nullopt;
  if (!win || b.node.inputs.size() > 3) {
    return reference;  // not a depthwise shape this kernel computes: the reference, slow but right
  }
  const int64_t kernel = win->kernel;
  const int64_t c = w->dim(0);
  const bool has_bias = b.node.inputs.size() > 2 && !b.node.inputs[2].empty();
  const Tensor* bias = has_bias ? b.constant(2) : nullptr;
  if (has_bias && (bias == nullptr || bias->dtype() != DataType::kFloat32 || bias->shape() != Shape{c})) return reference;
  Tensor pw = pack_lanes(*w, c, kernel * kernel);
  Tensor pb = pack_bias(bias, c);
  const bool silu_out = b.node.attr_string(kActivationAttr) == kSwish;
  return std::unique_ptr<Kernel>(std::make_unique<VecBlockedDepthwise>(std::move(reference), c, kernel, win->stride,
                                                                       win->pad_top, win->pad_left, silu_out,
                                                                       std::move(pw), std::move(pb), has_bias));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedConv", 1, 1, kBlockedDepthwisePriority, make_blocked_depthwise);

}  // namespace kiln::vec
