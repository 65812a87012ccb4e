// Shared pieces of the recurrent operators (RNN, GRU, LSTM): activation functions, attribute parsing
// and the validation of the X / W / R / B / sequence_lens / initial_h inputs, which all three share.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/ref/common.h"

namespace kiln::ref::rnn {

// One of the activation functions the recurrent operators accept, with its alpha / beta bound.
struct Activation {
  enum class Kind { kRelu, kTanh, kSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh, kHardSigmoid,
                    kElu, kSoftsign, kSoftplus };
  Kind kind = Kind::kTanh;
  float alpha = 0;
  float beta = 0;

  template <typename C>
  C operator()(C x) const {
    const C a = static_cast<C>(alpha);
    const C b = static_cast<C>(beta);
    switch (kind) {
      case Kind::kRelu: return x > C(0) ? x : C(0);
      case Kind::kTanh: return std::tanh(x);
      case Kind::kSigmoid: return C(1) / (C(1) + std::exp(-x));
      case Kind::kAffine: return a * x + b;
      case Kind::kLeakyRelu: return x >= C(0) ? x : a * x;
      case Kind::kThresholdedRelu: return x > a ? x : C(0);
      case Kind::kScaledTanh: return a * std::tanh(b * x);
      case Kind::kHardSigmoid: return std::min(std::max(a * x + b, C(0)), C(1));
      case Kind::kElu: return x >= C(0) ? x : a * (std::exp(x) - C(1));
      case Kind::kSoftsign: return x / (C(1) + std::abs(x));
      case Kind::kSoftplus:  // log(1 + e^x) without overflow for large x
        return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
    }
    return x;
  }
};

enum class CellKind { kRnn, kGru, kLstm };

// Gate blocks in W / R rows: RNN 1 (h), GRU 3 (z r h), LSTM 4 (i o f c).
int num_gates(CellKind kind);

// Attributes common to all three operators, parsed once by the factory.
struct RnnAttrs {
  CellKind kind = CellKind::kRnn;
  bool reverse = false;        // direction == "reverse"
  int64_t num_directions = 1;  // 2 for "bidirectional"
  int64_t hidden_size = -1;    // -1: not given, taken from R
  bool has_clip = false;
  float clip = 0;
  bool batch_major = false;  // layout == 1
  // activations_per_direction * num_directions entries, forward direction first.
  std::vector<Activation> activations;
  bool linear_before_reset = false;  // GRU only
  bool input_forget = false;         // LSTM only
};

Expected<RnnAttrs> parse_rnn_attrs(const ir::Node& node, CellKind kind);

// Sizes of one run, derived from the inputs and checked against each other.
struct RnnDims {
  int64_t seq = 0;
  int64_t batch = 0;
  int64_t input = 0;
  int64_t hidden = 0;
  int64_t dirs = 1;
};

// Checks the inputs of a recurrent node: X W R B sequence_lens initial_h (and initial_c P for LSTM),
// their ranks, shapes and element types. Fills `dims` and the per-batch sequence lengths.
Status check_rnn_inputs(const KernelContext& ctx, const RnnAttrs& attrs, RnnDims* dims, std::vector<int64_t>* seq_lens);

// Offsets into the layout-dependent tensors (layout 0: time-major, layout 1: batch-major).
struct RnnLayout {
  RnnDims d;
  bool batch_major = false;
  // X[t, b, :] or X[b, t, :]
  int64_t x(int64_t t, int64_t b) const {
    return (batch_major ? b * d.seq + t : t * d.batch + b) * d.input;
  }
  // initial_h / Y_h / initial_c / Y_c at [dir, b, :] or [b, dir, :]
  int64_t state(int64_t dir, int64_t b) const {
    return (batch_major ? b * d.dirs + dir : dir * d.batch + b) * d.hidden;
  }
  // Y at [t, dir, b, :] or [b, t, dir, :]
  int64_t y(int64_t t, int64_t dir, int64_t b) const {
    return (batch_major ? (b * d.seq + t) * d.dirs + dir : (t * d.dirs + dir) * d.batch + b) * d.hidden;
  }
  Shape state_shape() const {
    return batch_major ? Shape{d.batch, d.dirs, d.hidden} : Shape{d.dirs, d.batch, d.hidden};
  }
  Shape y_shape() const {
    return batch_major ? Shape{d.batch, d.seq, d.dirs, d.hidden} : Shape{d.seq, d.dirs, d.batch, d.hidden};
  }
};

}  // namespace kiln::ref::rnn
