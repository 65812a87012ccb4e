// The gate of a squeeze-and-excitation block on the blocked layout (kernels/blocked_squeeze_excite_attrs.h),
// shared by the kernels that compute one: kiln.BlockedSqueezeExcite (vec/blocked_squeeze_excite.cc),
// which scales X by it, and kiln.BlockedSqueezeExciteConv (vec/blocked_squeeze_excite_conv.cc), which
// scales the projection's weights by it. Per image, the channel means of X (one pass over X), then the
// two small matrix-vector products with their activations on those means. Included by those kernels'
// translation units only.
//
// The weights are packed once at build, padded to a multiple of 16 channels: W1 as [R][Cp] (dot
// products of its long rows with the means) and W2 transposed to [R][Cp] (rows scaled and summed
// straight into X's blocked channel order, which is the plain channel order for any block). A multiple
// of 16 holds whole blocks of 8 and of 16, so one packing serves X in either block.
#pragma once
#pragma GCC diagnostic ignored "-Wpsabi"  // Vec<W> never crosses a call: see reduce_loops.cc

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_layout.h"
#include "kernels/kernel.h"
#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/simd_math.h"

namespace kiln::vec::squeeze_excite {

// The activations these kernels compute themselves; anything else goes to the reference.
struct Activation {
  enum Kind { kNone, kRelu, kLeakyRelu, kClip, kSigmoid, kHardSigmoid, kHardSwish, kTanh, kSwish } kind = kNone;
  float a = 0, b = 0;  // LeakyRelu alpha; Clip min, max; HardSigmoid alpha, beta
};

inline bool to_activation(const FusedActivation& f, Activation* out) {
  const std::string& op = f.op;
  if (op.empty())
    *out = {Activation::kNone};
  else if (op == "Relu")
    *out = {Activation::kRelu};
  else if (op == "LeakyRelu")
    *out = {Activation::kLeakyRelu, f.params[0]};
  else if (op == "Clip")
    *out = {Activation::kClip, f.params[0], f.params[1]};
  else if (op == "Sigmoid")
    *out = {Activation::kSigmoid};
  else if (op == "HardSigmoid")
    *out = {Activation::kHardSigmoid, f.params[0], f.params[1]};
  else if (op == "HardSwish")
    *out = {Activation::kHardSwish, 1.0f / 6.0f, 0.5f};
  else if (op == "Tanh")
    *out = {Activation::kTanh};
  else if (op == kSwish)
    *out = {Activation::kSwish};
  else
    return false;  // Gelu
  return true;
}

template <int W>
KILN_SIMD_INLINE Vec<W> activate(const Activation& act, Vec<W> x) {
  switch (act.kind) {
    case Activation::kNone:
      return x;
    case Activation::kRelu:
      return select<W>(x < 0.0f, splat<W>(0.0f), x);
    case Activation::kLeakyRelu:
      return select<W>(x < 0.0f, x * act.a, x);
    case Activation::kClip:
      return clamp<W>(x, act.a, act.b);
    case Activation::kSigmoid:
      return sigmoid<W>(x);
    case Activation::kHardSigmoid:
      return clamp<W>(x * act.a + act.b, 0.0f, 1.0f);
    case Activation::kHardSwish:
      return x * clamp<W>(x * act.a + act.b, 0.0f, 1.0f);
    case Activation::kTanh:
      return tanh<W>(x);
    case Activation::kSwish:
      return silu<W>(x);
  }
  return x;
}

// The packed constants and sizes of one node.
struct Weights {
  int64_t c = 0, r = 0;                 // channels, reduced channels
  int64_t cp = 0, rp = 0;               // both rounded up to a multiple of kPadding
  Tensor w1, b1, w2t, b2;               // [r][cp], [rp], [r][cp] (W2 transposed), [cp]; zero in the rounding
  bool has_b1 = false, has_b2 = false;  // whether B1, B2 were given (else b1, b2 are zeros)
  Activation reduce, expand;
};

// The padding of the packed weights' channels: a multiple of every block the loops take (8 and 16).
constexpr int64_t kPadding = 16;

// The vector width for blocks of B lanes at instruction-set width W: a block of 8 runs 8-wide even
// where 16 would fit (its pixels are 8 floats apart).
template <int W, int B>
inline constexpr int kLanes = W < B ? W : B;

// pooled[row * B + l] = mean over hw of x[row][hw][l], for `rows` rows of hw B-lane pixels.
template <int W, int B>
KILN_SIMD_INLINE void pool_rows(const float* x, float* pooled, int64_t rows, int64_t hw) {
  constexpr int V = kLanes<W, B>;
  const float inv = 1.0f / static_cast<float>(hw);
  for (int64_t row = 0; row < rows; ++row, x += hw * B) {
    for (int64_t l = 0; l < B; l += V) {
      Vec<V> acc0{}, acc1{};  // two chains hide the latency of the additions
      int64_t i = 0;
      for (; i + 1 < hw; i += 2) {
        acc0 += load<V>(x + i * B + l);
        acc1 += load<V>(x + (i + 1) * B + l);
      }
      if (i < hw) acc0 += load<V>(x + i * B + l);
      store<V>(pooled + row * B + l, (acc0 + acc1) * inv);
    }
  }
}

// reduced[image * rp + j] = act(b1[j] + dot(W1 row j, pooled[image * cp ..])) for the items
// [begin, end) of the n * r (image, j) pairs: the reducing product, whose rows (C long) are far longer
// than its output (R), split by output across a team.
template <int W>
KILN_SIMD_INLINE void reduce_items(const Weights& w, const float* pooled, float* reduced, int64_t begin, int64_t end) {
  const float* b1 = w.b1.data<float>();
  for (int64_t item = begin; item < end; ++item) {
    const int64_t image = item / w.r, j = item % w.r;
    const float* row = w.w1.data<float>() + j * w.cp;
    const float* in = pooled + image * w.cp;
    Vec<W> acc[4] = {};  // four chains hide the latency of the multiply-adds
    int64_t k = 0;
    for (; k + 4 * W <= w.cp; k += 4 * W) {
      for (int v = 0; v < 4; ++v) acc[v] += load<W>(row + k + v * W) * load<W>(in + k + v * W);
    }
    for (; k < w.cp; k += W) acc[0] += load<W>(row + k) * load<W>(in + k);
    const Vec<W> sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    float total = b1[j];
    for (int l = 0; l < W; ++l) total += sum[l];
    reduced[image * w.rp + j] = activate<W>(w.reduce, splat<W>(total))[0];
  }
}

// gate[0, b - a) = act(b2 + sum over k < r of reduced[k] * W2t[k][a, b)), 0 past C: the expanding
// product for channels [a, b), a and b multiples of kPadding (so of W), along contiguous stretches of
// W2t's rows. Up to 4 vectors of the gate at a time stay in registers for the whole sum, so each
// weight is loaded once and each gate value written once.
template <int W>
KILN_SIMD_INLINE void expand_columns(const Weights& w, const float* reduced, int64_t a, int64_t b, float* gate) {
  constexpr int64_t kTile = 4 * W;
  const float* w2t = w.w2t.data<float>() + a;
  const float* b2 = w.b2.data<float>() + a;
  const int64_t n = b - a, depth = w.r, stride = w.cp;
  int64_t j0 = 0;
  for (; j0 + kTile <= n; j0 += kTile) {
    Vec<W> acc[4];
    for (int v = 0; v < 4; ++v) acc[v] = load<W>(b2 + j0 + v * W);
    for (int64_t k = 0; k < depth; ++k) {
      const Vec<W> s = splat<W>(reduced[k]);
      for (int v = 0; v < 4; ++v) acc[v] += s * load<W>(w2t + k * stride + j0 + v * W);
    }
    for (int v = 0; v < 4; ++v) store<W>(gate + j0 + v * W, activate<W>(w.expand, acc[v]));
  }
  for (; j0 < n; j0 += W) {
    Vec<W> acc = load<W>(b2 + j0);
    for (int64_t k = 0; k < depth; ++k) acc += splat<W>(reduced[k]) * load<W>(w2t + k * stride + j0);
    store<W>(gate + j0, activate<W>(w.expand, acc));
  }
  for (int64_t c = std::max(a, w.c); c < b; ++c) gate[c - a] = 0.0f;  // Y's padding lanes: X's times 0
}

// The gate's loops as cpu_isa.h's Loop<W>, each compiled for every instruction set; the pooling for
// blocks of 8 and of 16 (`block`, which the kernels check).
template <int W>
struct PoolLoop {
  KILN_SIMD_INLINE static void run(const float* x, float* pooled, int64_t rows, int64_t hw, int64_t block) {
    if (block == 8) {
      pool_rows<W, 8>(x, pooled, rows, hw);
    } else {
      pool_rows<W, 16>(x, pooled, rows, hw);
    }
  }
};
template <int W>
struct ReduceLoop {
  KILN_SIMD_INLINE static void run(const Weights* w, const float* pooled, float* reduced, int64_t begin, int64_t end) {
    reduce_items<W>(*w, pooled, reduced, begin, end);
  }
};
template <int W>
struct ExpandLoop {
  KILN_SIMD_INLINE static void run(const Weights* w, const float* reduced, int64_t a, int64_t b, float* gate) {
    expand_columns<W>(*w, reduced, a, b, gate);
  }
};

struct GateLoops {
  void (*pool)(const float*, float*, int64_t, int64_t, int64_t);
  void (*reduce)(const Weights*, const float*, float*, int64_t, int64_t);
  void (*expand)(const Weights*, const float*, int64_t, int64_t, float*);
};

inline GateLoops gate_loops_for(Isa isa) {
  return {loop_for<PoolLoop, const float*, float*, int64_t, int64_t, int64_t>(isa),
          loop_for<ReduceLoop, const Weights*, const float*, float*, int64_t, int64_t>(isa),
          loop_for<ExpandLoop, const Weights*, const float*, int64_t, int64_t, float*>(isa)};
}

// Calls body(image, first_block, count) for the rows [begin, end) of X's n * blocks rows (one per
// image and channel block), split where an image ends: a run of rows contiguous in X whose means and
// gates are contiguous too (they are laid out per image, `cp` apart).
template <typename Body>
inline void for_each_image_run(int64_t begin, int64_t end, int64_t blocks, Body&& body) {
  while (begin < end) {
    const int64_t image = begin / blocks, first = begin % blocks, count = std::min(end - begin, blocks - first);
    body(image, first, count);
    begin += count;
  }
}

// A constant float32 tensor of `shape`, or nullptr.
inline const Tensor* constant_of_shape(const KernelBuildContext& b, size_t i, const Shape& shape) {
  const Tensor* t = b.constant(i);
  return t != nullptr && t->dtype() == DataType::kFloat32 && t->shape() == shape ? t : nullptr;
}

// Packs the constant weights; false when they are not constants of consistent shapes.
inline bool pack(const KernelBuildContext& b, Weights* w) {
  const Tensor* w1 = b.constant(1);
  if (w1 == nullptr || w1->dtype() != DataType::kFloat32 || w1->rank() != 4 || w1->dim(2) != 1 || w1->dim(3) != 1 ||
      w1->size() == 0) {
    return false;
  }
  w->r = w1->dim(0);
  w->c = w1->dim(1);
  const Tensor* w2 = constant_of_shape(b, 3, {w->c, w->r, 1, 1});
  // A bias that is not a constant reads as absent here; run() then sees it present and hands over.
  const Tensor* b1 = constant_of_shape(b, 2, {w->r});
  const Tensor* b2 = constant_of_shape(b, 4, {w->c});
  if (w2 == nullptr) return false;
  w->has_b1 = b1 != nullptr;
  w->has_b2 = b2 != nullptr;
  w->rp = channel_blocks(w->r, kPadding) * kPadding;
  w->cp = channel_blocks(w->c, kPadding) * kPadding;
  w->w1 = Tensor(DataType::kFloat32, {w->r, w->cp});
  w->b1 = Tensor(DataType::kFloat32, {w->rp});
  w->w2t = Tensor(DataType::kFloat32, {w->r, w->cp});
  w->b2 = Tensor(DataType::kFloat32, {w->cp});
  for (int64_t j = 0; j < w->r; ++j) {
    for (int64_t c = 0; c < w->c; ++c) {
      w->w1.data<float>()[j * w->cp + c] = w1->data<float>()[j * w->c + c];
      w->w2t.data<float>()[j * w->cp + c] = w2->data<float>()[c * w->r + j];
    }
    if (b1) w->b1.data<float>()[j] = b1->data<float>()[j];
  }
  if (b2) std::memcpy(w->b2.data<float>(), b2->data<float>(), w->c * sizeof(float));
  return true;
}

// One run's arrays and sizes: X blocked [n][blocks][hw][block], the means and the reduced products.
struct GateArrays {
  const float* x;
  float* pooled;   // [n][cp]
  float* reduced;  // [n][rp]
  int64_t n, blocks, block, hw;
};

// Thread `t` of a team of `team` (1: alone), which owns X's rows [begin, end) of n * blocks: the
// channel means of its rows, then its share of the reducing product (for every image: each needs all
// of the means). On return `reduced` is complete. Two barriers, met only on a team: a node run alone
// may be inside another region (a part of a run cut by rows, exec/row_parts.h), whose threads do not
// all run it.
inline void pool_and_reduce(const GateLoops& loops, const Weights& w, const GateArrays& a, int64_t begin, int64_t end,
                            int t, int team) {
  const int64_t cp = w.cp, row_elements = a.hw * a.block;
  for_each_image_run(begin, end, a.blocks, [&](int64_t image, int64_t first, int64_t count) {
    const int64_t row = image * a.blocks + first;
    loops.pool(a.x + row * row_elements, a.pooled + image * cp + first * a.block, count, a.hw, a.block);
  });
  if (t == 0) {
    // Channels past X's blocks (cp holds more when C/8 rounds up to an odd count) read as 0.
    for (int64_t i = 0; i < a.n; ++i) std::fill(a.pooled + i * cp + a.blocks * a.block, a.pooled + (i + 1) * cp, 0.0f);
  }
  if (team > 1) {
#pragma omp barrier
  }
  const int64_t items = a.n * w.r, share = (items + team - 1) / team;
  const int64_t first_item = std::min<int64_t>(items, t * share);
  loops.reduce(&w, a.pooled, a.reduced, first_item, std::min<int64_t>(items, first_item + share));
  if (team > 1) {
#pragma omp barrier
  }
}

}  // namespace kiln::vec::squeeze_excite
