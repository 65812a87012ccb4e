// kiln.BlockedSqueezeExcite, vectorized (the operator: kernels/blocked_squeeze_excite_attrs.h). One
// kernel call does what five nodes did: per image, the channel means of X (one pass over X), the two
// small matrix-vector products with their activations on those means, and Y = X * gate (a second pass).
// At batch 1 the unfused block cost five dispatches, two of them oneDNN convolutions on a 1x1 image
// whose setup outweighs their few thousand multiply-adds.
//
// The weights are packed once at build, padded to a multiple of 16 channels: W1 as [R][Cp] (dot
// products of its long rows with the means) and W2 transposed to [R][Cp] (rows scaled and summed
// straight into X's blocked channel order, which is the plain channel order for any block), and the
// plain W1 and W2 are let go (the plan frees them: releases_constant). A multiple of 16 holds whole
// blocks of 8 and of 16, so one packing serves X in either block (taken from X at each run). Cases
// this kernel does not take (weights that are not constants, other activations, shapes that do not
// match the weights) go to the reference, given W1 and W2 unpacked.
#pragma GCC diagnostic ignored "-Wpsabi"  // Vec<W> never crosses a call: see reduce_loops.cc

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_layout.h"
#include "kernels/blocked_squeeze_excite_attrs.h"
#include "kernels/vec/cpu_isa.h"
#include "kernels/vec/parallel_chunks.h"
#include "kernels/vec/reference_fallback.h"
#include "kernels/vec/simd_math.h"

namespace kiln::vec {
namespace {

// The activations this kernel computes itself; anything else goes to the reference.
struct Activation {
  enum Kind { kNone, kRelu, kLeakyRelu, kClip, kSigmoid, kHardSigmoid, kHardSwish, kTanh, kSwish } kind = kNone;
  float a = 0, b = 0;  // LeakyRelu alpha; Clip min, max; HardSigmoid alpha, beta
};

bool to_activation(const FusedActivation& f, Activation* out) {
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

// y[row][hw][l] = x[row][hw][l] * gate[row * B + l].
template <int W, int B>
KILN_SIMD_INLINE void scale_rows(const float* x, const float* gate, float* y, int64_t rows, int64_t hw) {
  constexpr int V = kLanes<W, B>;
  for (int64_t row = 0; row < rows; ++row) {
    Vec<V> g[B / V];
    for (int64_t v = 0; v < B / V; ++v) g[v] = load<V>(gate + row * B + v * V);
    const float* xr = x + row * hw * B;
    float* yr = y + row * hw * B;
    for (int64_t i = 0; i < hw * B; i += B) {
      for (int64_t v = 0; v < B / V; ++v) store<V>(yr + i + v * V, load<V>(xr + i + v * V) * g[v]);
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

// The three loops as cpu_isa.h's Loop<W>, each compiled for every instruction set; the pooling and
// scaling loops for blocks of 8 and of 16 (`block`, which the kernel checks).
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
struct ScaleLoop {
  KILN_SIMD_INLINE static void run(const float* x, const float* gate, float* y, int64_t rows, int64_t hw,
                                   int64_t block) {
    if (block == 8) {
      scale_rows<W, 8>(x, gate, y, rows, hw);
    } else {
      scale_rows<W, 16>(x, gate, y, rows, hw);
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

struct Loops {
  void (*pool)(const float*, float*, int64_t, int64_t, int64_t);
  void (*scale)(const float*, const float*, float*, int64_t, int64_t, int64_t);
  void (*reduce)(const Weights*, const float*, float*, int64_t, int64_t);
  void (*expand)(const Weights*, const float*, int64_t, int64_t, float*);
};

Loops loops_for(Isa isa) {
  return {loop_for<PoolLoop, const float*, float*, int64_t, int64_t, int64_t>(isa),
          loop_for<ScaleLoop, const float*, const float*, float*, int64_t, int64_t, int64_t>(isa),
          loop_for<ReduceLoop, const Weights*, const float*, float*, int64_t, int64_t>(isa),
          loop_for<ExpandLoop, const Weights*, const float*, int64_t, int64_t, float*>(isa)};
}

// Calls body(image, first_block, count) for the rows [begin, end) of X's n * blocks rows (one per
// image and channel block), split where an image ends: a run of rows contiguous in X whose means and
// gates are contiguous too (they are laid out per image, `cp` apart).
template <typename Body>
void for_each_image_run(int64_t begin, int64_t end, int64_t blocks, Body&& body) {
  while (begin < end) {
    const int64_t image = begin / blocks, first = begin % blocks, count = std::min(end - begin, blocks - first);
    body(image, first, count);
    begin += count;
  }
}

// Rows split across the intra-op team (row_chunk_threads) from this many elements per thread, far
// below the elementwise loops' grain (vec/parallel_chunks.h): X was just written by the convolution
// before, on the whole team, so one thread reading all of it takes the other cores' part from their
// caches. efficientnet_b0, 2 threads, batch 1: its 16 nodes took 2x their 1-thread time with the
// elementwise grain (2^18), and the model ran 5.53 -> 5.12 ms with this one (A/B, medians of 5 rounds).
constexpr int64_t kRowGrain = int64_t{1} << 14;

class VecBlockedSqueezeExcite : public Kernel {
 public:
  VecBlockedSqueezeExcite(std::unique_ptr<Kernel> reference, Weights weights)
      : reference_(std::move(reference)), w_(std::move(weights)), loops_(loops_for(detected_isa())) {}

  // W1 and W2 live only in the packed copies (the factory returns this kernel only when it packed them).
  bool releases_constant(size_t i) const override { return i == 1 || i == 3; }

  Status run(KernelContext& ctx) const override {
    if (!is_float32_tensor(ctx, 0) || ctx.has_input(2) != w_.has_b1 || ctx.has_input(4) != w_.has_b2) {
      return run_reference(ctx);
    }
    const Tensor& x = ctx.tensor(0);
    const int64_t block = channel_block_of(x.shape());
    if (x.rank() != 5 || (block != 8 && block != 16) || x.dim(1) != channel_blocks(w_.c, block) || x.size() == 0) {
      return run_reference(ctx);  // the reference names the problem
    }
    const int64_t n = x.dim(0), hw = x.dim(2) * x.dim(3), blocks = x.dim(1), rows = n * blocks, cp = w_.cp;
    const int64_t row_elements = hw * block;
    const int team = row_chunk_threads(rows, row_elements, kRowGrain);
    Tensor y(DataType::kFloat32, x.shape(), Tensor::Init::kUninitialized);
    Tensor pooled(DataType::kFloat32, {n, cp}, Tensor::Init::kUninitialized);
    Tensor reduced(DataType::kFloat32, {n, w_.rp}, Tensor::Init::kUninitialized);
    // Each thread's gate for its rows' channels (at most an image's cp, rounded out to kPadding).
    Tensor gates(DataType::kFloat32, {team, cp}, Tensor::Init::kUninitialized);
    const Arrays arrays{.x = x.data<float>(),
                        .y = y.data<float>(),
                        .pooled = pooled.data<float>(),
                        .reduced = reduced.data<float>(),
                        .gates = gates.data<float>(),
                        .n = n,
                        .blocks = blocks,
                        .block = block,
                        .hw = hw};
    if (team == 1) {
      run_part(arrays, 0, 1);
    } else {
#pragma omp parallel num_threads(team)
      run_part(arrays, omp_get_thread_num(), omp_get_num_threads());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  // The reference, given W1 and W2 unpacked where the plan freed them (they read as absent): slower, but
  // only inputs this kernel does not take come here.
  Status run_reference(KernelContext& ctx) const {
    if (ctx.tensor(1).defined() && ctx.tensor(3).defined()) return reference_->run(ctx);
    Tensor w1(DataType::kFloat32, {w_.r, w_.c, 1, 1}), w2(DataType::kFloat32, {w_.c, w_.r, 1, 1});
    for (int64_t j = 0; j < w_.r; ++j) {
      for (int64_t c = 0; c < w_.c; ++c) {
        w1.data<float>()[j * w_.c + c] = w_.w1.data<float>()[j * w_.cp + c];
        w2.data<float>()[c * w_.r + j] = w_.w2t.data<float>()[j * w_.cp + c];
      }
    }
    const Value w1_value(std::move(w1)), w2_value(std::move(w2));
    std::vector<const Value*> inputs(std::max<size_t>(ctx.num_inputs(), 4), nullptr);
    for (size_t i = 0; i < ctx.num_inputs(); ++i) inputs[i] = ctx.has_input(i) ? &ctx.input(i) : nullptr;
    inputs[1] = &w1_value;
    inputs[3] = &w2_value;
    std::vector<Value> outputs(ctx.num_outputs());
    KernelContext unpacked(inputs, &outputs, ctx.frame());
    KILN_RETURN_IF_ERROR(reference_->run(unpacked));
    for (size_t k = 0; k < outputs.size(); ++k) ctx.set_output(k, std::move(outputs[k]));
    return Status::OK();
  }

  // One run's tensors and sizes, for run_part.
  struct Arrays {
    const float* x;
    float* y;
    float* pooled;   // [n][cp]
    float* reduced;  // [n][rp]
    float* gates;    // [team][cp]
    int64_t n, blocks, block, hw;
  };

  // Thread `t` of a team of `team` (1: the whole node on this thread): the channel means of its run
  // of X's rows, then its share of the reducing product (for every image: each needs all of the
  // means), then the gate of its rows' channels and their scaling. One team start and two barriers,
  // met only on a team: a node run alone may be inside another region (a part of a run cut by rows,
  // exec/row_parts.h), whose threads do not all run it.
  // Before, the two products ran on one thread between two parallel loops: on EfficientNet's late
  // layers (7x7, weights of 2 x 48 x 1152 floats read from memory each run) a node took twice its
  // 1-thread time on 2 threads (0.016 against 0.008 ms; 0.011 now).
  void run_part(const Arrays& a, int t, int team) const {
    const int64_t rows = a.n * a.blocks, cp = w_.cp, row_elements = a.hw * a.block;
    const int64_t chunk = (rows + team - 1) / team;
    const int64_t begin = std::min<int64_t>(rows, t * chunk), end = std::min<int64_t>(rows, begin + chunk);
    for_each_image_run(begin, end, a.blocks, [&](int64_t image, int64_t first, int64_t count) {
      const int64_t row = image * a.blocks + first;
      loops_.pool(a.x + row * row_elements, a.pooled + image * cp + first * a.block, count, a.hw, a.block);
    });
    if (t == 0) {
      // Channels past X's blocks (cp holds more when C/8 rounds up to an odd count) read as 0.
      for (int64_t i = 0; i < a.n; ++i)
        std::fill(a.pooled + i * cp + a.blocks * a.block, a.pooled + (i + 1) * cp, 0.0f);
    }
    if (team > 1) {
#pragma omp barrier
    }
    const int64_t items = a.n * w_.r, share = (items + team - 1) / team;
    const int64_t first_item = std::min<int64_t>(items, t * share);
    loops_.reduce(&w_, a.pooled, a.reduced, first_item, std::min<int64_t>(items, first_item + share));
    if (team > 1) {
#pragma omp barrier
    }
    float* gate = a.gates + t * cp;
    for_each_image_run(begin, end, a.blocks, [&](int64_t image, int64_t first, int64_t count) {
      const int64_t c0 = first * a.block, c1 = (first + count) * a.block;
      const int64_t g0 = c0 / kPadding * kPadding, g1 = (c1 + kPadding - 1) / kPadding * kPadding;
      loops_.expand(&w_, a.reduced + image * w_.rp, g0, g1, gate);
      const int64_t row = image * a.blocks + first;
      loops_.scale(a.x + row * row_elements, gate + (c0 - g0), a.y + row * row_elements, count, a.hw, a.block);
    });
  }

  std::unique_ptr<Kernel> reference_;
  Weights w_;
  Loops loops_;
};

// A constant float32 tensor of `shape`, or nullptr.
const Tensor* constant_of_shape(const KernelBuildContext& b, size_t i, const Shape& shape) {
  const Tensor* t = b.constant(i);
  return t != nullptr && t->dtype() == DataType::kFloat32 && t->shape() == shape ? t : nullptr;
}

// Packs the constant weights; false when they are not constants of consistent shapes.
bool pack(const KernelBuildContext& b, Weights* w) {
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

Expected<std::unique_ptr<Kernel>> make_blocked_squeeze_excite(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  Weights w;
  auto reduce = parse_blocked_conv_activation(squeeze_excite_conv_node(b.node, "reduce"));
  auto expand = parse_blocked_conv_activation(squeeze_excite_conv_node(b.node, "expand"));
  if (!reduce.ok() || !expand.ok() || !to_activation(*reduce, &w.reduce) || !to_activation(*expand, &w.expand) ||
      !pack(b, &w)) {
    return reference;
  }
  return std::unique_ptr<Kernel>(std::make_unique<VecBlockedSqueezeExcite>(std::move(reference), std::move(w)));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedSqueezeExcite", 1, 1, kVecPriority, make_blocked_squeeze_excite);

}  // namespace kiln::vec
