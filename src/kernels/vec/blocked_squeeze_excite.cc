// kiln.BlockedSqueezeExcite, vectorized (the operator: kernels/blocked_squeeze_excite_attrs.h). One
// kernel call does what five nodes did: the gate (vec/squeeze_excite_gate.h: per image, the channel
// means of X and the two small matrix-vector products on them), then Y = X * gate (a second pass).
// At batch 1 the unfused block cost five dispatches, two of them oneDNN convolutions on a 1x1 image
// whose setup outweighs their few thousand multiply-adds.
//
// The plain W1 and W2 are let go once packed (the plan frees them: releases_constant). Cases this
// kernel does not take (weights that are not constants, other activations, shapes that do not match
// the weights) go to the reference, given W1 and W2 unpacked.
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
#include "kernels/vec/squeeze_excite_gate.h"

namespace kiln::vec {
namespace {

using squeeze_excite::kLanes;
using squeeze_excite::kPadding;
using squeeze_excite::Weights;

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

// The scaling loop as cpu_isa.h's Loop<W>, compiled for every instruction set, for blocks of 8 and
// of 16 (`block`, which the kernel checks).
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
using ScaleFn = void (*)(const float*, const float*, float*, int64_t, int64_t, int64_t);

// Rows split across the intra-op team (row_chunk_threads) from this many elements per thread, far
// below the elementwise loops' grain (vec/parallel_chunks.h): X was just written by the convolution
// before, on the whole team, so one thread reading all of it takes the other cores' part from their
// caches. efficientnet_b0, 2 threads, batch 1: its 16 nodes took 2x their 1-thread time with the
// elementwise grain (2^18), and the model ran 5.53 -> 5.12 ms with this one (A/B, medians of 5 rounds).
constexpr int64_t kRowGrain = int64_t{1} << 14;

class VecBlockedSqueezeExcite : public Kernel {
 public:
  VecBlockedSqueezeExcite(std::unique_ptr<Kernel> reference, Weights weights)
      : reference_(std::move(reference)),
        w_(std::move(weights)),
        loops_(squeeze_excite::gate_loops_for(detected_isa())),
        scale_(loop_for<ScaleLoop, const float*, const float*, float*, int64_t, int64_t, int64_t>(detected_isa())) {}

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
    const Arrays arrays{.gate = {.x = x.data<float>(),
                                 .pooled = pooled.data<float>(),
                                 .reduced = reduced.data<float>(),
                                 .n = n,
                                 .blocks = blocks,
                                 .block = block,
                                 .hw = hw},
                        .y = y.data<float>(),
                        .gates = gates.data<float>()};
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
    squeeze_excite::GateArrays gate;
    float* y;
    float* gates;  // [team][cp]
  };

  // Thread `t` of a team of `team` (1: the whole node on this thread): the channel means of its run
  // of X's rows and its share of the reducing product (squeeze_excite::pool_and_reduce), then the gate
  // of its rows' channels and their scaling. One team start and two barriers.
  // Before, the two products ran on one thread between two parallel loops: on EfficientNet's late
  // layers (7x7, weights of 2 x 48 x 1152 floats read from memory each run) a node took twice its
  // 1-thread time on 2 threads (0.016 against 0.008 ms; 0.011 now).
  void run_part(const Arrays& arrays, int t, int team) const {
    const squeeze_excite::GateArrays& a = arrays.gate;
    const int64_t rows = a.n * a.blocks, cp = w_.cp, row_elements = a.hw * a.block;
    const int64_t chunk = (rows + team - 1) / team;
    const int64_t begin = std::min<int64_t>(rows, t * chunk), end = std::min<int64_t>(rows, begin + chunk);
    squeeze_excite::pool_and_reduce(loops_, w_, a, begin, end, t, team);
    float* gate = arrays.gates + t * cp;
    squeeze_excite::for_each_image_run(begin, end, a.blocks, [&](int64_t image, int64_t first, int64_t count) {
      const int64_t c0 = first * a.block, c1 = (first + count) * a.block;
      const int64_t g0 = c0 / kPadding * kPadding, g1 = (c1 + kPadding - 1) / kPadding * kPadding;
      loops_.expand(&w_, a.reduced + image * w_.rp, g0, g1, gate);
      const int64_t row = image * a.blocks + first;
      scale_(a.x + row * row_elements, gate + (c0 - g0), arrays.y + row * row_elements, count, a.hw, a.block);
    });
  }

  std::unique_ptr<Kernel> reference_;
  Weights w_;
  squeeze_excite::GateLoops loops_;
  ScaleFn scale_;
};

Expected<std::unique_ptr<Kernel>> make_blocked_squeeze_excite(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  Weights w;
  auto reduce = parse_blocked_conv_activation(squeeze_excite_conv_node(b.node, "reduce"));
  auto expand = parse_blocked_conv_activation(squeeze_excite_conv_node(b.node, "expand"));
  if (!reduce.ok() || !expand.ok() || !squeeze_excite::to_activation(*reduce, &w.reduce) ||
      !squeeze_excite::to_activation(*expand, &w.expand) || !squeeze_excite::pack(b, &w)) {
    return reference;
  }
  return std::unique_ptr<Kernel>(std::make_unique<VecBlockedSqueezeExcite>(std::move(reference), std::move(w)));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "BlockedSqueezeExcite", 1, 1, kVecPriority, make_blocked_squeeze_excite);

}  // namespace kiln::vec
