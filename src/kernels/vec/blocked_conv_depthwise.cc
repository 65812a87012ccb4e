// kiln.BlockedConvDepthwise on the vector units (the operator: kernels/blocked_conv_depthwise_attrs.h):
// Y = depthwise_activation(DepthwiseConv(activation(Conv1x1(X, W, B)), DW, DB)) on the blocked layout,
// in one pass over Y, the expanded tensor never leaving the cache.
//
// Per image and channel block of Y (a plane), or per band of its rows where the planes are fewer than
// two per thread, output rows in order; each expanded row the depthwise kernel needs is computed into a
// ring of the kernel's height of rows (depthwise_rows.h, as the stem kernel fills its ring), activated
// there, and read by the same depthwise row code. An expanded row of one block is a small matrix
// product: for each pixel, X's C channels (broadcast one at a time) times C vectors of the block's
// weights, in tiles of 8 pixels that read X in place (the last tile overlaps the one before; rows
// narrower than 8 take one tile of their width).
//
// What it replaces: EfficientNet's expansion (SiLU) and its 3x3 or 5x5 depthwise convolution were two
// nodes, since oneDNN 2.6 fuses a depthwise post-op only 3x3 and with its own, slower SiLU; the
// expanded tensor (4.8 MB for the first block at 224x224) went to memory and back. The expansion's
// tile reaches 165-183 GFLOP/s on one Zen 5 core with its inputs in L1 (8 pixels x 16 channels).
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

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/blocked_conv_depthwise_attrs.h"
#include "kernels/blocked_layout.h"
#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/depthwise_rows.h"
#include "kernels/vec/parallel_chunks.h"
#include "kernels/vec/reference_fallback.h"
#include "kernels/vec/silu_avx512.h"
#include "kernels/vec/simd_math.h"

namespace kiln::vec {
namespace {

using depthwise::activate_row;
using depthwise::kPackLanes;
using depthwise::pack_bias;
using depthwise::pack_lanes;
using depthwise::Plane;
using depthwise::ring_plane_rows;
using depthwise::RingPlanes;
using depthwise::row_activation;
using depthwise::RowActivation;
using depthwise::zero_padding_lanes;

// Above the oneDNN kernel (kDnnlPriority, 10), to which it hands the activations it does not compute.
constexpr int kConvDepthwisePriority = 20;

// Channel blocks of Y expanded together: a tile of 7 pixels x 3 blocks (21 sums) reads each X value
// once for 3 multiply-adds and each weight vector once for 7. Single-core expansion on EfficientNet's
// and MobileNetV2's shapes with X in cache, GFLOP/s (microbenchmark): 183-215 in tiles of 7 x 3
// against 159-174 in tiles of 8 x 1 and 182-198 in 8 x 2 or 8 x 3. Their expanded channel counts are
// all multiples of 3 blocks of 16.
constexpr int64_t kGroup = depthwise::kMaxRingPlanes;
constexpr int kTile = 7;

// The expansion's input row: pixel 0 of one row of X's first channel block; block b lies `plane`
// floats further (X's h * w * B).
struct ExpandInput {
  const float* x;
  int64_t plane, c;
};

// What the expansion of one group of blocks reads and writes beside X: per block q of the group, its
// packed weights ([channel][16 lanes]), bias and channel count in the block (fewer than B in a padded
// last block).
struct ExpandGroup {
  int64_t count;  // blocks in the group
  const float* w[kGroup];
  const float* b[kGroup];
  int64_t lanes[kGroup];
};

#if defined(__x86_64__)
// The expansion's activation on a tile's sums, before they are stored: a pass over the row in L1 less
// (ReLU6 over MobileNetV2's expanded rows as such passes took 8% of its time). NaN passes through
// Relu and Clip, as in the reference (max and min return their second operand for a NaN).
KILN_TARGET_AVX512 __attribute__((always_inline)) inline __m512 activate16(const RowActivation& a, __m512 v) {
  if (!a.active) return v;
  switch (a.fn.op) {
    case UnaryOp::kRelu:
      return _mm512_max_ps(_mm512_setzero_ps(), v);
    case UnaryOp::kClip:
      return _mm512_min_ps(_mm512_set1_ps(a.fn.beta), _mm512_max_ps(_mm512_set1_ps(a.fn.alpha), v));
    default:  // kSwish, the only other activation row_activation makes
      return silu16(v);
  }
}

// Channel kk of X's block at xb into the T x Q sums: each X value broadcast once for its Q blocks.
template <int T, int Q>
KILN_TARGET_AVX512 __attribute__((always_inline)) inline void expand_channel16(const float* xb, const float* wb,
                                                                               int64_t w_stride, int64_t kk,
                                                                               __m512 (&acc)[Q][T]) {
  __m512 wv[Q];
#pragma GCC unroll 3
  for (int q = 0; q < Q; ++q) wv[q] = _mm512_loadu_ps(wb + q * w_stride + kk * kPackLanes);
#pragma GCC unroll 7
  for (int t = 0; t < T; ++t) {
    const __m512 xv = _mm512_set1_ps(xb[t * 16 + kk]);
#pragma GCC unroll 3
    for (int q = 0; q < Q; ++q) acc[q][t] = _mm512_fmadd_ps(xv, wv[q], acc[q][t]);
  }
}

// T expanded pixels of Q blocks of 16 lanes at AVX-512, in intrinsics (GCC 12 compiles Vec<W>'s splat
// of a loaded float there as a scalar add and a broadcast: see the stem kernel). x: pixel 0 of the
// tile in X's block 0; block q's weights are w_stride floats after block q - 1's, its bias 16, its
// row y_stride.
template <int T, int Q>
KILN_TARGET_AVX512 __attribute__((always_inline)) inline void expand_tile16(const ExpandInput& in, const float* x,
                                                                            const float* wt, int64_t w_stride,
                                                                            const float* bias, const RowActivation& act,
                                                                            float* y, int64_t y_stride) {
  __m512 acc[Q][T];
#pragma GCC unroll 3
  for (int q = 0; q < Q; ++q) {
    const __m512 b = _mm512_loadu_ps(bias + q * 16);
#pragma GCC unroll 7
    for (int t = 0; t < T; ++t) acc[q][t] = b;
  }
  for (int64_t k0 = 0; k0 < in.c; k0 += 16) {
    const float* xb = x + k0 / 16 * in.plane;
    const float* wb = wt + k0 * kPackLanes;
    const int64_t n = std::min<int64_t>(16, in.c - k0);
    if (n == 16) {
#pragma GCC unroll 16
      for (int kk = 0; kk < 16; ++kk) expand_channel16<T, Q>(xb, wb, w_stride, kk, acc);
    } else {
      for (int64_t kk = 0; kk < n; ++kk) expand_channel16<T, Q>(xb, wb, w_stride, kk, acc);
    }
  }
#pragma GCC unroll 3
  for (int q = 0; q < Q; ++q) {
#pragma GCC unroll 7
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + q * y_stride + t * 16, activate16(act, acc[q][t]));
  }
}

// A row of w pixels of Q blocks: tiles of 7, the last overlapping the one before (it computes some
// pixels again, the same way), or one tile of a row narrower than 7.
template <int Q, int T = kTile>
KILN_TARGET_AVX512 __attribute__((always_inline)) inline void expand_row16(const ExpandInput& in, const float* wt,
                                                                           int64_t w_stride, const float* bias,
                                                                           const RowActivation& act, int64_t w,
                                                                           float* y, int64_t y_stride) {
  if constexpr (T == kTile) {
    if (w >= kTile) {
      for (int64_t ox = 0;; ox += kTile) {
        const int64_t x0 = std::min(ox, w - kTile);
        expand_tile16<kTile, Q>(in, in.x + x0 * 16, wt, w_stride, bias, act, y + x0 * 16, y_stride);
        if (x0 == w - kTile) break;
      }
      return;
    }
    return expand_row16<Q, T - 1>(in, wt, w_stride, bias, act, w, y, y_stride);
  } else if constexpr (T > 0) {
    if (w == T) return expand_tile16<T, Q>(in, in.x, wt, w_stride, bias, act, y, y_stride);
    expand_row16<Q, T - 1>(in, wt, w_stride, bias, act, w, y, y_stride);
  }
}

// One expanded row of a group of 16-lane blocks (consecutive weight groups and biases) at AVX-512,
// activated: a call per row.
KILN_TARGET_AVX512 void expand_rows_avx512(const ExpandInput& in, const ExpandGroup& g, const RowActivation& act,
                                           int64_t w, float* y, int64_t y_stride) {
  const int64_t w_stride = in.c * kPackLanes;
  switch (g.count) {
    case 3:
      return expand_row16<3>(in, g.w[0], w_stride, g.b[0], act, w, y, y_stride);
    case 2:
      return expand_row16<2>(in, g.w[0], w_stride, g.b[0], act, w, y, y_stride);
    default:
      return expand_row16<1>(in, g.w[0], w_stride, g.b[0], act, w, y, y_stride);
  }
}
#endif

// T expanded pixels of one block (y: [pixel][B]) for the W lanes at `lane`: bias + sum over X's
// channels of the channel's value times its packed weights (wt: [channel][16 lanes]).
template <int W, int B, int T>
KILN_SIMD_INLINE void expand_tile(const float* x, int64_t plane, int64_t c, const float* wt, Vec<W> bias, int64_t lane,
                                  float* y) {
  Vec<W> acc[T];
#pragma GCC unroll 7
  for (int t = 0; t < T; ++t) acc[t] = bias;
  for (int64_t k = 0; k < c; ++k) {
    const float* xk = x + k / B * plane + k % B;
    const Vec<W> wv = load<W>(wt + k * kPackLanes + lane);
#pragma GCC unroll 7
    for (int t = 0; t < T; ++t) acc[t] += splat<W>(xk[t * B]) * wv;
  }
#pragma GCC unroll 7
  for (int t = 0; t < T; ++t) store<W>(y + t * B + lane, acc[t]);
}

template <int W, int B, int T = kTile - 1>
KILN_SIMD_INLINE void expand_narrow(int64_t n, const float* x, int64_t plane, int64_t c, const float* wt, Vec<W> bias,
                                    int64_t lane, float* y) {
  if constexpr (T > 0) {
    if (n == T) return expand_tile<W, B, T>(x, plane, c, wt, bias, lane, y);
    expand_narrow<W, B, T - 1>(n, x, plane, c, wt, bias, lane, y);
  }
}

// One expanded row of w pixels of one block of B lanes, W at a time, in tiles as expand_row16's.
template <int W, int B>
KILN_SIMD_INLINE void expand_row_generic(const ExpandInput& in, const float* wt, const float* bias, int64_t w,
                                         float* y) {
  for (int64_t lane = 0; lane < B; lane += W) {
    const Vec<W> b = load<W>(bias + lane);
    if (w < kTile) {
      expand_narrow<W, B>(w, in.x, in.plane, in.c, wt, b, lane, y);
      continue;
    }
    for (int64_t ox = 0;; ox += kTile) {
      const int64_t x0 = std::min(ox, w - kTile);
      expand_tile<W, B, kTile>(in.x + x0 * B, in.plane, in.c, wt, b, lane, y + x0 * B);
      if (x0 == w - kTile) break;
    }
  }
}

// expand_row_generic compiled once per vector width, called once per row and block, rather than
// inlined into every instantiation of the loops below.
#if defined(__x86_64__)
template <int B>
KILN_TARGET_AVX2 void expand_row_8(const ExpandInput& in, const float* wt, const float* bias, int64_t w, float* y) {
  expand_row_generic<8, B>(in, wt, bias, w, y);
}
#endif
template <int B>
void expand_row_4(const ExpandInput& in, const float* wt, const float* bias, int64_t w, float* y) {
  expand_row_generic<4, B>(in, wt, bias, w, y);
}

// Expanded row of every block of the group, activated: block q's at y + q * y_stride.
template <int W, int B>
KILN_SIMD_INLINE void expand_rows(const ExpandInput& in, const ExpandGroup& g, const RowActivation& act, int64_t w,
                                  float* y, int64_t y_stride) {
#if defined(__x86_64__)
  if constexpr (W == 16 && B == 16) {
    return expand_rows_avx512(in, g, act, w, y, y_stride);
  }
#endif
  for (int64_t q = 0; q < g.count; ++q) {
    float* row = y + q * y_stride;
#if defined(__x86_64__)
    if constexpr (W == 8) {
      expand_row_8<B>(in, g.w[q], g.b[q], w, row);
    } else {
      expand_row_4<B>(in, g.w[q], g.b[q], w, row);
    }
#else
    expand_row_generic<W, B>(in, g.w[q], g.b[q], w, row);
#endif
    activate_row(act, row, w * B);
  }
}

// The call's arguments, one struct for the dispatch below.
struct Call {
  const float* x;
  const float* w;
  const float* b;
  const float* dw_w;
  const float* dw_b;
  float* y;
  Plane plane;
  int64_t c, m, block, in_blocks, blocks, groups, bands, dw_kernel, dw_stride;
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
    const int64_t group = u % c.groups, band = u / c.groups % c.bands, n = u / c.groups / c.bands;
    ExpandGroup g;
    RingPlanes planes;
    g.count = planes.count = std::min(kGroup, c.blocks - group * kGroup);
    for (int64_t q = 0; q < g.count; ++q) {
      const int64_t block = group * kGroup + q;
      // A block of 8 reads lanes [0, 8) or [8, 16) of its 16-lane weight group.
      const int64_t lanes16 = block * B / kPackLanes, lane0 = block * B % kPackLanes;
      g.w[q] = c.w + lanes16 * c.c * kPackLanes + lane0;
      g.b[q] = c.b + block * B;
      g.lanes[q] = std::min<int64_t>(B, c.m - block * B);
      planes.dw_w[q] = c.dw_w + lanes16 * KD * KD * kPackLanes + lane0;
      planes.dw_b[q] = c.dw_b + block * B;
      planes.y[q] = c.y + (n * c.blocks + block) * p.oh * p.ow * B;
    }
    const float* x = c.x + n * c.in_blocks * in_plane;
    // Expanded row iy of the group's blocks, activated, into the ring.
    auto make_rows = [&](int64_t iy, float* row, int64_t row_stride) {
      expand_rows<V, B>(ExpandInput{x + iy * p.w * B, in_plane, c.c}, g, c.act, p.w, row, row_stride);
      for (int64_t q = 0; q < g.count; ++q) zero_padding_lanes<B>(row + q * row_stride, p.w, g.lanes[q]);
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

// [m][taps] from pack_lanes' [ceil(m/16)][taps][16]: the plain weights back, for the reference.
Tensor unpack_lanes(const Tensor& packed, const Shape& shape) {
  Tensor plain(DataType::kFloat32, shape);
  const int64_t m = shape[0], taps = plain.size() / m;
  for (int64_t ch = 0; ch < m; ++ch) {
    for (int64_t t = 0; t < taps; ++t) {
      plain.data<float>()[ch * taps + t] =
          packed.data<float>()[(ch / kPackLanes * taps + t) * kPackLanes + ch % kPackLanes];
    }
  }
  return plain;
}

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
    Plane& p = call.plane;
    p.h = x.dim(2);
    p.w = x.dim(3);
    p.kh = cfg_.dw_kernel;
    p.pad_top = p.pad_left = cfg_.dw_kernel / 2;
    p.oh = (p.h + 2 * p.pad_top - p.kh) / cfg_.dw_stride + 1;
    p.ow = (p.w + 2 * p.pad_left - p.kh) / cfg_.dw_stride + 1;
    p.ring_width = std::max((p.ow - 1) * cfg_.dw_stride + p.kh, p.pad_left + p.w);
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
    call.groups = channel_blocks(blocks, kGroup);
    // Bands of rows where the groups are too few to share among the team; each band computes the
    // expanded rows its first output rows need once more.
    const int team = omp_in_parallel() ? 1 : omp_get_max_threads();
    call.bands = n * call.groups >= 2 * team ? 1 : std::min<int64_t>(team, p.oh);
    call.dw_kernel = cfg_.dw_kernel;
    call.dw_stride = cfg_.dw_stride;
    call.act = cfg_.act;
    call.dw_act = cfg_.dw_act;
    const size_t scratch_floats = static_cast<size_t>(p.kh * std::min(kGroup, blocks) * p.ring_width * block);
    const int64_t unit_elements = std::min(kGroup, blocks) * p.oh * p.ow * block / call.bands;
    const bool done = for_each_row_chunk_with_scratch(
        n * call.bands * call.groups, unit_elements, kGrain, ScratchSlot::kDepthwiseRing, scratch_floats,
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
    std::vector<const Value*> inputs;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) inputs.push_back(ctx.has_input(i) ? &ctx.input(i) : nullptr);
    if (inputs.size() > 1 && !ctx.tensor(1).defined()) inputs[1] = &plain_w_;
    if (inputs.size() > 3 && !ctx.tensor(3).defined()) inputs[3] = &plain_dw_;
    std::vector<Value> outputs(ctx.num_outputs());
    KernelContext with_weights(inputs, &outputs, ctx.frame());
    KILN_RETURN_IF_ERROR(run_counted_reference(*reference_, with_weights));
    for (size_t i = 0; i < outputs.size(); ++i) ctx.set_output(i, std::move(outputs[i]));
    return Status::OK();
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
  // The kernel packs biases at build; one that is not a constant reads as absent here, and run() then
  // sees it given and hands the call to the reference.
  const Tensor* bias = b.constant(2);
  const Tensor* dbias = b.constant(4);
  cfg.has_b = bias != nullptr;
  cfg.has_db = dbias != nullptr;
  if ((cfg.has_b && !(is_float(bias) && bias->shape() == Shape{cfg.m})) ||
      (cfg.has_db && !(is_float(dbias) && dbias->shape() == Shape{cfg.m}))) {
    return reference;
  }
  return std::unique_ptr<Kernel>(std::make_unique<VecBlockedConvDepthwise>(
      std::move(reference), cfg, w->raw(), dw->raw(), pack_lanes(*w, cfg.m, cfg.c),
      pack_bias(cfg.has_b ? bias : nullptr, cfg.m), pack_lanes(*dw, cfg.m, cfg.dw_kernel * cfg.dw_kernel),
      pack_bias(cfg.has_db ? dbias : nullptr, cfg.m)));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedConvDepthwise", 1, 1, kConvDepthwisePriority,
                              make_blocked_conv_depthwise);

}  // namespace kiln::vec
