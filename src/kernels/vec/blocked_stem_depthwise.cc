// kiln.BlockedStemDepthwise on the vector units (the operator: kernels/blocked_stem_depthwise_attrs.h):
// Y = depthwise_activation(DepthwiseConv(activation(Conv(X, W, B)), DW, DB)), X the plain image, Y
// blocked, in one pass over X and one over Y.
//
// The stem's result never reaches memory. Per image and channel block (a plane of Y), or per band of
// its rows where the planes are fewer than two per thread, output rows in order; the stem rows each needs
// are computed into a ring of the depthwise kernel's height of rows
// (as vec/blocked_depthwise.cc fills its ring from X), activated there, and read by the depthwise row
// code that kernel uses (depthwise_rows.h). A stem row is a small convolution on the image: for each
// pixel, C x k x k broadcast image values times a vector of weights, in tiles of 8 pixels that read
// the image in place; the few pixels whose window crosses the image's left or right edge are computed
// one by one (a padded copy of the rows instead cost as much as the stem's arithmetic).
//
// Measured on MobileNetV2's pair alone (a two-layer model, 3x224x224 -> 32x112x112, kiln bench,
// medians of 500 runs) against oneDNN's two primitives: 1 thread 0.22-0.24 ms against 0.22-0.23, 2
// threads 0.18-0.22 against 0.27-0.32, where oneDNN splits the one image poorly. In the network each
// also meets memory that has left the cache (mobilenet_v2, 1 thread, batch 1: about 0.35 ms either
// way for the pair), and the gain there is 1-2%.
//
// Weights are packed at build as [ceil(M/16)][taps][16], zero past M (the stem's taps C * k * k, the
// depthwise kernel's d * d), and the biases as [ceil(M/16) * 16]: Y's padding lanes then stay 0, as the
// activations allowed here keep 0 at 0 (and the stem rows' padding lanes are zeroed, for an image with
// an infinite or NaN value). The plain weights stay with the plan (they are small) for the
// reference, which takes every input this kernel does not.
#pragma GCC diagnostic ignored "-Wpsabi"  // Vec<W> never crosses a call: see reduce_loops.cc

#include <omp.h>

#include <algorithm>
#include <memory>
#include <optional>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/blocked_layout.h"
#include "kernels/blocked_stem_depthwise_attrs.h"
#include "kernels/vec/activate_avx512.h"
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

// Above the reference; the operator has no other fast kernel.
constexpr int kStemDepthwisePriority = 20;

// The stem's geometry: image channels and sizes, the square window, and the interior pixels [lo, hi)
// of a stem row, whose windows lie inside the image's columns.
struct Stem {
  int64_t c, h, w, kernel, stride, pad, lo, hi;
};

// In the tiles below, rows[ch * K + ky] is the image row under kernel row ky (null where that row is
// padding): pixel x, tap kx reads its column x * S + kx - pad, in range for the interior pixels.

#if defined(__x86_64__)
// The T-pixel tile of stem_row_avx512: each image value a broadcast operand of its multiply-add; the
// sums activated in registers.
template <int T, int K, int S>
KILN_TARGET_AVX512 __attribute__((always_inline)) inline void stem_tile16(const float* const* rows, int64_t c,
                                                                          int64_t pad, const float* wt, __m512 bias,
                                                                          const RowActivation& act, int64_t x0,
                                                                          float* y) {
  __m512 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = bias;
  for (int64_t ch = 0; ch < c; ++ch) {
#pragma GCC unroll 3
    for (int ky = 0; ky < K; ++ky) {
      if (rows[ch * K + ky] == nullptr) continue;
      const float* r = rows[ch * K + ky] + (x0 * S - pad);
#pragma GCC unroll 3
      for (int kx = 0; kx < K; ++kx) {
        const __m512 wv = _mm512_loadu_ps(wt + ((ch * K + ky) * K + kx) * kPackLanes);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(r[t * S + kx]), wv, acc[t]);
      }
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * 16, activate16(act, acc[t]));
}

// The interior pixels [lo, hi) of a stem row of 16-lane blocks at AVX-512, activated, in intrinsics:
// GCC 12 compiles Vec<W>'s splat of a loaded float there as a scalar add and a broadcast, or worse,
// as masked broadcasts lane by lane (the kernel ran 1.3x and 2.7x slower). A call per row. (Tiles of
// 8 pixels x 2 blocks, each image value broadcast once for both, ran no faster in the networks: the
// ring of two blocks' rows at 112 pixels, 44 KB, no longer left room in L1.)
// Needs hi - lo >= 8; the last tile overlaps the one before (see stem_interior).
template <int K, int S>
KILN_TARGET_AVX512 void stem_row_avx512(const float* const* rows, int64_t c, int64_t pad, const float* wt,
                                        const float* bias, const RowActivation& act, int64_t lo, int64_t hi,
                                        float* out) {
  const __m512 b = _mm512_loadu_ps(bias);
  for (int64_t ox = lo;; ox += 8) {
    const int64_t x0 = std::min(ox, hi - 8);
    stem_tile16<8, K, S>(rows, c, pad, wt, b, act, x0, out + x0 * 16);
    if (x0 == hi - 8) break;
  }
}
#endif

// T stem outputs at pixel x0 of a stem row (y: [pixel][B]), for the W lanes at `lane`: bias + sum over
// the image channels and the window of `rows` times the packed weights `wt` ([tap][16 lanes]).
template <int W, int B, int T, int K, int S>
KILN_SIMD_INLINE void stem_tile(const float* const* rows, int64_t c, int64_t pad, const float* wt, Vec<W> bias,
                                int64_t lane, int64_t x0, float* y) {
  Vec<W> acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = bias;
  for (int64_t ch = 0; ch < c; ++ch) {
#pragma GCC unroll 3
    for (int ky = 0; ky < K; ++ky) {
      if (rows[ch * K + ky] == nullptr) continue;
      const float* r = rows[ch * K + ky] + (x0 * S - pad);
#pragma GCC unroll 3
      for (int kx = 0; kx < K; ++kx) {
        const Vec<W> wv = load<W>(wt + ((ch * K + ky) * K + kx) * kPackLanes + lane);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) acc[t] += splat<W>(r[t * S + kx]) * wv;
      }
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) store<W>(y + t * B + lane, acc[t]);
}

// The interior pixels [lo, hi) of a stem row, hi - lo >= 8, in tiles of 8; the last tile overlaps the
// one before (it computes some pixels again, the same way), so that no tile narrower than 8 is compiled:
// this file's loops are instantiated per block, stride and window, and with tiles of every width the
// sanitizer build of it took minutes and gigabytes.
template <int W, int B, int K, int S>
KILN_SIMD_INLINE void stem_interior(const float* const* rows, int64_t c, int64_t pad, const float* wt,
                                    const float* bias, int64_t lo, int64_t hi, float* out) {
  for (int64_t lane = 0; lane < B; lane += W) {
    const Vec<W> b = load<W>(bias + lane);
    for (int64_t ox = lo;; ox += 8) {
      const int64_t x0 = std::min(ox, hi - 8);
      stem_tile<W, B, 8, K, S>(rows, c, pad, wt, b, lane, x0, out + x0 * B);
      if (x0 == hi - 8) break;
    }
  }
}

// stem_interior compiled once per vector width, called once per row, rather than inlined into every
// instantiation of the loop below.
#if defined(__x86_64__)
template <int B, int K, int S>
KILN_TARGET_AVX2 void stem_interior_8(const float* const* rows, int64_t c, int64_t pad, const float* wt,
                                      const float* bias, int64_t lo, int64_t hi, float* out) {
  stem_interior<8, B, K, S>(rows, c, pad, wt, bias, lo, hi, out);
}
#endif
template <int B, int K, int S>
void stem_interior_4(const float* const* rows, int64_t c, int64_t pad, const float* wt, const float* bias, int64_t lo,
                     int64_t hi, float* out) {
  stem_interior<4, B, K, S>(rows, c, pad, wt, bias, lo, hi, out);
}

// One stem output whose window crosses the image's left or right edge: the taps inside only.
template <int W, int B, int K, int S>
KILN_SIMD_INLINE void stem_edge_pixel(const float* const* rows, const Stem& g, const float* wt, const float* bias,
                                      int64_t x, float* y) {
  for (int64_t lane = 0; lane < B; lane += W) {
    Vec<W> acc = load<W>(bias + lane);
    for (int64_t ch = 0; ch < g.c; ++ch) {
      for (int ky = 0; ky < K; ++ky) {
        if (rows[ch * K + ky] == nullptr) continue;
        for (int kx = 0; kx < K; ++kx) {
          const int64_t col = x * S + kx - g.pad;
          if (col < 0 || col >= g.w) continue;
          acc += splat<W>(rows[ch * K + ky][col]) * load<W>(wt + ((ch * K + ky) * K + kx) * kPackLanes + lane);
        }
      }
    }
    store<W>(y + lane, acc);
  }
}

// Stem row `iy` (ow pixels of B lanes) into `out`, activated, reading the image in place.
template <int W, int B, int K, int S>
KILN_SIMD_INLINE void stem_row(const float* x, const Stem& g, const float* wt, const float* bias,
                               const RowActivation& act, int64_t iy, int64_t ow, float* out) {
  const float* rows[kMaxStemChannels * K];
  for (int64_t ch = 0; ch < g.c; ++ch) {
    for (int ky = 0; ky < K; ++ky) {
      const int64_t sy = iy * S - g.pad + ky;
      rows[ch * K + ky] = sy < 0 || sy >= g.h ? nullptr : x + (ch * g.h + sy) * g.w;
    }
  }
  // Rows of fewer than 8 interior pixels (tiny images) go pixel by pixel, like the edges.
  const int64_t lo = g.hi - g.lo >= 8 ? g.lo : g.hi;
  for (int64_t ox = 0; ox < lo; ++ox) stem_edge_pixel<W, B, K, S>(rows, g, wt, bias, ox, out + ox * B);
  for (int64_t ox = g.hi; ox < ow; ++ox) stem_edge_pixel<W, B, K, S>(rows, g, wt, bias, ox, out + ox * B);
  if (lo == g.hi) return activate_row(act, out, ow * B);
#if defined(__x86_64__)
  if constexpr (W == 16 && B == 16) {
    // The interior activated in registers (a pass over the row in L1 less); the edges here.
    stem_row_avx512<K, S>(rows, g.c, g.pad, wt, bias, act, lo, g.hi, out);
    activate_row(act, out, lo * B);  // the edges
    return activate_row(act, out + g.hi * B, (ow - g.hi) * B);
  } else if constexpr (W == 8) {
    stem_interior_8<B, K, S>(rows, g.c, g.pad, wt, bias, lo, g.hi, out);
  } else {
    stem_interior_4<B, K, S>(rows, g.c, g.pad, wt, bias, lo, g.hi, out);
  }
#else
  stem_interior<W, B, K, S>(rows, g.c, g.pad, wt, bias, lo, g.hi, out);
#endif
  activate_row(act, out, ow * B);
}

// The call's arguments, one struct for the dispatch below.
struct Call {
  const float* x;
  const float* stem_w;
  const float* stem_b;
  const float* dw_w;
  const float* dw_b;
  float* y;
  Stem stem;
  Plane plane;
  int64_t channels, block, blocks, bands, dw_stride;
  RowActivation stem_act, dw_act;
};

// The work units [begin, end), (image * bands + band) * blocks + block: a band of output rows of one
// plane, with the block, stride and kernels fixed. Units of one band are consecutive, so that a thread
// takes every block of its rows: the next layer (oneDNN's, split by rows) then finds them in its cache.
template <int W, int B, int KS, int KD, int SD>
KILN_SIMD_INLINE void planes(const Call& c, int64_t begin, int64_t end, float* scratch) {
  constexpr int V = W < B ? W : B;  // blocks of 8 lanes run 8-wide even where 16 would fit
  const Plane& p = c.plane;
  float* ring = scratch;
  std::fill(ring, ring + p.kh * p.ring_width * B, 0.0f);  // the padding columns, which no row writes
  const int64_t taps_s = c.stem.c * KS * KS;
  for (int64_t u = begin; u < end; ++u) {
    const int64_t block = u % c.blocks, band = u / c.blocks % c.bands, n = u / c.blocks / c.bands;
    const int64_t i = n * c.blocks + block;  // the plane
    // A block of 8 reads lanes [0, 8) or [8, 16) of its 16-lane weight group.
    const int64_t group = block * B / kPackLanes, lane0 = block * B % kPackLanes;
    const float* x = c.x + n * c.stem.c * c.stem.h * c.stem.w;
    const float* stem_w = c.stem_w + group * taps_s * kPackLanes + lane0;
    const float* stem_b = c.stem_b + block * B;
    const int64_t lanes = std::min<int64_t>(B, c.channels - block * B);
    // Stem row iy, activated, into the ring.
    auto make_row = [&](int64_t iy, float* row, int64_t) {
      if (c.stem.stride == 1) {
        stem_row<V, B, KS, 1>(x, c.stem, stem_w, stem_b, c.stem_act, iy, p.w, row);
      } else {
        stem_row<V, B, KS, 2>(x, c.stem, stem_w, stem_b, c.stem_act, iy, p.w, row);
      }
      zero_padding_lanes<B>(row, p.w, lanes);
    };
    RingPlanes one;
    one.dw_w[0] = c.dw_w + group * KD * KD * kPackLanes + lane0;
    one.dw_b[0] = c.dw_b + block * B;
    one.y[0] = c.y + i * p.oh * p.ow * B;
    ring_plane_rows<V, B, KD, SD>(p, one, make_row, c.dw_act, p.oh * band / c.bands, p.oh * (band + 1) / c.bands, ring);
  }
}

// Loop<W> for cpu_isa.h's loop_for: dispatches on the block and the depthwise stride (the stem's
// kernel and the depthwise kernel are 3x3; the stem's stride is chosen per row, in planes). Every
// template dimension here multiplies this file's code: with the stem's stride and a 5x5 depthwise
// kernel among them too, the sanitizer build of this file took over 9 minutes.
template <int W>
struct StemDepthwiseLoop {
  KILN_SIMD_INLINE static void run(const Call* c, int64_t begin, int64_t end, float* scratch) {
    if (c->block == 8) return by_stride<8>(*c, begin, end, scratch);
    by_stride<16>(*c, begin, end, scratch);
  }
  template <int B>
  KILN_SIMD_INLINE static void by_stride(const Call& c, int64_t begin, int64_t end, float* scratch) {
    if (c.dw_stride == 1) return planes<W, B, kStemKernel, kDepthwiseKernel, 1>(c, begin, end, scratch);
    planes<W, B, kStemKernel, kDepthwiseKernel, 2>(c, begin, end, scratch);
  }
};

using StemDepthwiseFn = void (*)(const Call*, int64_t, int64_t, float*);

// Planes split across the intra-op team (for_each_row_chunk) from this many output elements per thread.
constexpr int64_t kGrain = int64_t{1} << 14;

class VecBlockedStemDepthwise : public Kernel {
 public:
  struct Config {
    int64_t m = 0, c = 0, block = 16;
    SquareWindow stem, dw;
    RowActivation stem_act, dw_act;
    bool has_b = false, has_db = false;
  };

  VecBlockedStemDepthwise(std::unique_ptr<Kernel> reference, Config config, Tensor stem_w, Tensor stem_b, Tensor dw_w,
                          Tensor dw_b)
      : reference_(std::move(reference)),
        cfg_(config),
        stem_w_(std::move(stem_w)),
        stem_b_(std::move(stem_b)),
        dw_w_(std::move(dw_w)),
        dw_b_(std::move(dw_b)),
        loop_(loop_for<StemDepthwiseLoop, const Call*, int64_t, int64_t, float*>(detected_isa())) {}

  Status run(KernelContext& ctx) const override {
    // Biases given at run time, or absent where the build had them: the reference.
    if (!is_float32_tensor(ctx, 0) || ctx.has_input(2) != cfg_.has_b || ctx.has_input(4) != cfg_.has_db) {
      return run_reference(ctx);
    }
    const Tensor& x = ctx.tensor(0);
    if (x.rank() != 4 || x.dim(1) != cfg_.c || x.size() == 0) return run_reference(ctx);  // it names the problem
    Call call{};
    call.stem = Stem{cfg_.c, x.dim(2), x.dim(3), cfg_.stem.kernel, cfg_.stem.stride, cfg_.stem.pad, 0, 0};
    // The stem's output is the depthwise convolution's input plane.
    const int64_t k = cfg_.stem.kernel, pad = cfg_.stem.pad;
    if (x.dim(2) + 2 * pad < k || x.dim(3) + 2 * pad < k) return run_reference(ctx);
    const int64_t h = (x.dim(2) + 2 * pad - k) / cfg_.stem.stride + 1;
    const int64_t w = (x.dim(3) + 2 * pad - k) / cfg_.stem.stride + 1;
    // Interior pixels: x * stride - pad >= 0 and x * stride - pad + k - 1 < W.
    call.stem.lo = std::min(w, (pad + cfg_.stem.stride - 1) / cfg_.stem.stride);
    const int64_t last = x.dim(3) - k + pad;  // the largest x * stride for an interior pixel
    call.stem.hi = std::max(call.stem.lo, last < 0 ? int64_t{0} : std::min(w, last / cfg_.stem.stride + 1));
    const std::optional<Plane> plane = depthwise_plane(h, w, cfg_.dw.kernel, cfg_.dw.stride, cfg_.dw.pad, cfg_.dw.pad);
    if (!plane) return run_reference(ctx);
    call.plane = *plane;
    const Plane& p = call.plane;
    const int64_t n = x.dim(0), block = cfg_.block, blocks = channel_blocks(cfg_.m, block);
    Tensor y = ctx.output0_tensor(DataType::kFloat32, {n, blocks, p.oh, p.ow, block});
    call.x = x.data<float>();
    call.stem_w = stem_w_.data<float>();
    call.stem_b = stem_b_.data<float>();
    call.dw_w = dw_w_.data<float>();
    call.dw_b = dw_b_.data<float>();
    call.y = y.data<float>();
    call.channels = cfg_.m;
    call.block = block;
    call.blocks = blocks;
    // Bands of rows where the planes are too few to share among the team (batch 1: MobileNetV2's 2 of
    // 16 channels); each band computes the stem rows its first output rows need once more.
    const int team = omp_in_parallel() ? 1 : omp_get_max_threads();
    call.bands = n * blocks >= 2 * team ? 1 : std::min<int64_t>(team, p.oh);
    call.dw_stride = cfg_.dw.stride;
    call.stem_act = cfg_.stem_act;
    call.dw_act = cfg_.dw_act;
    const size_t scratch_floats = static_cast<size_t>(p.kh * p.ring_width * block);
    const bool done = for_each_row_chunk_with_scratch(
        n * call.bands * blocks, p.oh * p.ow * block / call.bands, kGrain, ScratchSlot::kDepthwiseRing, scratch_floats,
        [&](int64_t begin, int64_t end, float* scratch) { loop_(&call, begin, end, scratch); });
    if (!done) return Status::ResourceExhausted("stem and depthwise convolution: no memory for its rows");
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  Status run_reference(KernelContext& ctx) const { return run_counted_reference(*reference_, ctx); }

  std::unique_ptr<Kernel> reference_;
  Config cfg_;
  Tensor stem_w_, stem_b_, dw_w_, dw_b_;
  StemDepthwiseFn loop_;
};

Expected<std::unique_ptr<Kernel>> make_blocked_stem_depthwise(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  const Tensor* w = b.constant(1);
  const Tensor* dw = b.constant(3);
  const auto is_float = [](const Tensor* t) { return t != nullptr && t->dtype() == DataType::kFloat32; };
  if (!is_float(w) || !is_float(dw) || w->rank() != 4 || dw->rank() != 4) return reference;
  VecBlockedStemDepthwise::Config cfg;
  cfg.m = w->dim(0);
  cfg.c = w->dim(1);
  cfg.block = b.node.attr_int(kChannelBlockAttr, kDefaultChannelBlock);
  const std::optional<SquareWindow> stem =
      square_window(b.node.attr_ints("kernel_shape"), b.node.attr_ints("strides"), b.node.attr_ints("pads"),
                    b.node.attr_ints("dilations"), w->dim(2));
  const int64_t dw_stride = b.node.attr_int(kDepthwiseStrideAttr, 1);
  const std::optional<SquareWindow> dwin =
      square_window({}, {dw_stride, dw_stride}, b.node.attr_ints(kDepthwisePadsAttr), {}, dw->dim(2));
  auto stem_act = parse_blocked_conv_activation(stem_depthwise_stem_node(b.node));
  auto dw_act = parse_blocked_conv_activation(stem_depthwise_depthwise_node(b.node, cfg.m, dw->dim(2)));
  if (!stem || !dwin || !stem_act.ok() || !dw_act.ok() || !activation_keeps_zero(*stem_act) ||
      !activation_keeps_zero(*dw_act)) {
    return reference;
  }
  if ((cfg.block != 8 && cfg.block != 16) || w->dim(2) != w->dim(3) || w->dim(2) != kStemKernel || cfg.c < 1 ||
      cfg.c > kMaxStemChannels || cfg.m < 1 || dw->shape() != Shape{cfg.m, 1, dw->dim(2), dw->dim(2)} ||
      dw->dim(2) != kDepthwiseKernel || b.node.attr_int("group", 1) != 1) {
    return reference;
  }
  cfg.stem = *stem;
  cfg.dw = *dwin;
  cfg.stem_act = row_activation(*stem_act);
  cfg.dw_act = row_activation(*dw_act);
  const std::optional<BlockBiases> biases = block_biases(b, cfg.m);
  if (!biases) return reference;
  cfg.has_b = biases->b != nullptr;
  cfg.has_db = biases->db != nullptr;
  const int64_t stem_taps = cfg.c * kStemKernel * kStemKernel, dw_taps = dw->dim(2) * dw->dim(2);
  return std::unique_ptr<Kernel>(std::make_unique<VecBlockedStemDepthwise>(
      std::move(reference), cfg, pack_lanes(*w, cfg.m, stem_taps), pack_bias(biases->b, cfg.m),
      pack_lanes(*dw, cfg.m, dw_taps), pack_bias(biases->db, cfg.m)));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedStemDepthwise", 1, 1, kStemDepthwisePriority,
                              make_blocked_stem_depthwise);

}  // namespace kiln::vec
