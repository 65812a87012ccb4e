// RNN, GRU and LSTM: one recurrence driver (directions, sequence lengths, layouts, outputs) and one
// step function per cell type.
//
// Each batch row runs independently through its own sequence length: a forward pass visits steps
// 0..len-1, a reverse pass len-1..0, and Y stays 0 at the padded steps past len. Y_h / Y_c hold the
// state after the last step processed. Everything computes in float (double for double inputs).
#include <algorithm>

#include "kernels/ref/rnn_common.h"

namespace kiln::ref {
namespace {

using rnn::Activation;
using rnn::CellKind;
using rnn::RnnAttrs;
using rnn::RnnDims;
using rnn::RnnLayout;

// One direction's weights, already converted to the compute type.
template <typename C>
struct DirWeights {
  const C* w;    // [gates*H, I]
  const C* r;    // [gates*H, H]
  const C* wb;   // [gates*H]
  const C* rb;   // [gates*H]
  const C* p;    // [3*H] LSTM peepholes (i, o, f)
  const Activation* act;  // this direction's activations (f, g, h)
};

// out[row] = dot(m[row, :], v) for rows [0, rows).
template <typename C>
void matvec(const C* m, const C* v, int64_t rows, int64_t cols, C* out) {
  for (int64_t i = 0; i < rows; ++i) {
    const C* row = m + i * cols;
    C s = C(0);
    for (int64_t k = 0; k < cols; ++k) s += row[k] * v[k];
    out[i] = s;
  }
}

template <typename C>
class Cell {
 public:
  Cell(const RnnAttrs& attrs, const RnnDims& d)
      : attrs_(attrs),
        d_(d),
        gx_(static_cast<size_t>(rnn::num_gates(attrs.kind) * d.hidden)),
        gh_(gx_.size()),
        tmp_(static_cast<size_t>(d.hidden)) {}

  // Advances (h, c) by one step on input x. c is used by LSTM only.
  void step(const DirWeights<C>& w, const C* x, C* h, C* c) {
    const int64_t H = d_.hidden;
    const int64_t rows = static_cast<int64_t>(gx_.size());
    matvec(w.w, x, rows, d_.input, gx_.data());
    switch (attrs_.kind) {
      case CellKind::kRnn: {
        matvec(w.r, h, rows, H, gh_.data());
        for (int64_t j = 0; j < H; ++j) h[j] = w.act[0](clip(gx_[j] + gh_[j] + w.wb[j] + w.rb[j]));
        break;
      }
      case CellKind::kGru: {
        // Gates z, r, h. With linear_before_reset the reset gate scales (Rh h + Rbh); without it,
        // it scales h before the recurrence, so that product is computed after r is known.
        const Activation& f = w.act[0];
        const Activation& g = w.act[1];
        if (attrs_.linear_before_reset) {
          matvec(w.r, h, rows, H, gh_.data());
        } else {
          matvec(w.r, h, 2 * H, H, gh_.data());
        }
        C* z = gh_.data();       // reuses gh_[0, H) and gh_[H, 2H) once read
        C* r = gh_.data() + H;
        for (int64_t j = 0; j < H; ++j) {
          z[j] = f(clip(gx_[j] + gh_[j] + w.wb[j] + w.rb[j]));
          r[j] = f(clip(gx_[H + j] + gh_[H + j] + w.wb[H + j] + w.rb[H + j]));
        }
        if (attrs_.linear_before_reset) {
          for (int64_t j = 0; j < H; ++j) {
            tmp_[j] = g(clip(gx_[2 * H + j] + w.wb[2 * H + j] + r[j] * (gh_[2 * H + j] + w.rb[2 * H + j])));
          }
        } else {
          std::vector<C> rh(static_cast<size_t>(H));
          for (int64_t j = 0; j < H; ++j) rh[j] = r[j] * h[j];
          matvec(w.r + 2 * H * H, rh.data(), H, H, gh_.data() + 2 * H);
          for (int64_t j = 0; j < H; ++j) {
            tmp_[j] = g(clip(gx_[2 * H + j] + w.wb[2 * H + j] + gh_[2 * H + j] + w.rb[2 * H + j]));
          }
        }
        for (int64_t j = 0; j < H; ++j) h[j] = (C(1) - z[j]) * tmp_[j] + z[j] * h[j];
        break;
      }
      case CellKind::kLstm: {
        // Gates i, o, f, c; peepholes i, o, f.
        const Activation& f = w.act[0];
        const Activation& g = w.act[1];
        const Activation& hact = w.act[2];
        matvec(w.r, h, rows, H, gh_.data());
        for (int64_t j = 0; j < H; ++j) {
          auto pre = [&](int gate) { return gx_[gate * H + j] + gh_[gate * H + j] + w.wb[gate * H + j] + w.rb[gate * H + j]; };
          const C c_prev = c[j];
          const C ig = f(clip(pre(0) + w.p[j] * c_prev));
          C fg = f(clip(pre(2) + w.p[2 * H + j] * c_prev));
          if (attrs_.input_forget) fg = C(1) - ig;
          const C cg = g(clip(pre(3)));
          const C c_new = fg * c_prev + ig * cg;
          const C og = f(clip(pre(1) + w.p[H + j] * c_new));
          c[j] = c_new;
          tmp_[j] = og * hact(c_new);
        }
        std::copy(tmp_.begin(), tmp_.end(), h);
        break;
      }
    }
  }

 private:
  C clip(C v) const {
    if (!attrs_.has_clip) return v;
    const C lim = static_cast<C>(attrs_.clip);
    return std::min(std::max(v, -lim), lim);
  }

  const RnnAttrs& attrs_;
  RnnDims d_;
  std::vector<C> gx_;   // W x for all gates
  std::vector<C> gh_;   // R h for all gates (GRU reuses it for z and r)
  std::vector<C> tmp_;  // the new hidden state while h is still read
};

// The input tensor i converted to C, or `size` zeros when the input is omitted.
template <typename T, typename C>
std::vector<C> to_compute(const KernelContext& ctx, size_t i, int64_t size) {
  std::vector<C> out(static_cast<size_t>(size), C(0));
  if (!ctx.has_input(i)) return out;
  const T* src = ctx.tensor(i).data<T>();
  for (int64_t k = 0; k < size; ++k) out[static_cast<size_t>(k)] = static_cast<C>(src[k]);
  return out;
}

template <typename T>
Status run_typed(KernelContext& ctx, const RnnAttrs& attrs, const RnnDims& d, const std::vector<int64_t>& seq_lens) {
  using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const int64_t gates = rnn::num_gates(attrs.kind);
  const int64_t H = d.hidden;
  const RnnLayout layout{d, attrs.batch_major};
  const bool lstm = attrs.kind == CellKind::kLstm;

  // Outputs first, with make(): an empty X can still declare a batch too large to allocate states for.
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::make(data_type_of<T>, layout.y_shape()));  // 0 past a sequence's end
  KILN_ASSIGN_OR_RETURN(Tensor y_h, Tensor::make(data_type_of<T>, layout.state_shape()));
  KILN_ASSIGN_OR_RETURN(Tensor y_c, Tensor::make(data_type_of<T>, lstm ? layout.state_shape() : Shape{0}));

  const std::vector<C> x = to_compute<T, C>(ctx, 0, ctx.tensor(0).size());
  const std::vector<C> w = to_compute<T, C>(ctx, 1, ctx.tensor(1).size());
  const std::vector<C> r = to_compute<T, C>(ctx, 2, ctx.tensor(2).size());
  const std::vector<C> b = to_compute<T, C>(ctx, 3, d.dirs * 2 * gates * H);
  const int64_t state_size = d.dirs * d.batch * H;
  const std::vector<C> h0 = to_compute<T, C>(ctx, 5, state_size);
  const std::vector<C> c0 = lstm ? to_compute<T, C>(ctx, 6, state_size) : std::vector<C>();
  const std::vector<C> p = lstm ? to_compute<T, C>(ctx, 7, d.dirs * 3 * H) : std::vector<C>();

  T* yp = y.data<T>();
  T* yhp = y_h.data<T>();
  T* ycp = y_c.data<T>();

  const size_t acts_per_dir = attrs.activations.size() / static_cast<size_t>(d.dirs);
  Cell<C> cell(attrs, d);
  std::vector<C> h(static_cast<size_t>(H)), c(static_cast<size_t>(H));
  for (int64_t dir = 0; dir < d.dirs; ++dir) {
    const bool reverse = attrs.reverse || dir == 1;
    DirWeights<C> dw{w.data() + dir * gates * H * d.input,
                     r.data() + dir * gates * H * H,
                     b.data() + dir * 2 * gates * H,
                     b.data() + dir * 2 * gates * H + gates * H,
                     lstm ? p.data() + dir * 3 * H : nullptr,
                     attrs.activations.data() + static_cast<size_t>(dir) * acts_per_dir};
    for (int64_t bi = 0; bi < d.batch; ++bi) {
      const int64_t s_off = layout.state(dir, bi);
      // Initial state: the layout of initial_h matches Y_h's, so the same offset applies.
      std::copy(h0.begin() + s_off, h0.begin() + s_off + H, h.begin());
      if (lstm) std::copy(c0.begin() + s_off, c0.begin() + s_off + H, c.begin());
      const int64_t len = seq_lens[static_cast<size_t>(bi)];
      for (int64_t s = 0; s < len; ++s) {
        const int64_t t = reverse ? len - 1 - s : s;
        cell.step(dw, x.data() + layout.x(t, bi), h.data(), c.data());
        T* yt = yp + layout.y(t, dir, bi);
        for (int64_t j = 0; j < H; ++j) yt[j] = T(h[static_cast<size_t>(j)]);
      }
      for (int64_t j = 0; j < H; ++j) {
        yhp[s_off + j] = T(h[static_cast<size_t>(j)]);
        if (lstm) ycp[s_off + j] = T(c[static_cast<size_t>(j)]);
      }
    }
  }

  if (ctx.num_outputs() > 0) ctx.set_output(0, Value(std::move(y)));
  if (ctx.num_outputs() > 1) ctx.set_output(1, Value(std::move(y_h)));
  if (lstm && ctx.num_outputs() > 2) ctx.set_output(2, Value(std::move(y_c)));
  return Status::OK();
}

class RecurrentKernel : public Kernel {
 public:
  explicit RecurrentKernel(RnnAttrs attrs) : attrs_(std::move(attrs)) {}

  Status run(KernelContext& ctx) const override {
    RnnDims dims;
    std::vector<int64_t> seq_lens;
    KILN_RETURN_IF_ERROR(rnn::check_rnn_inputs(ctx, attrs_, &dims, &seq_lens));
    return visit_type(FloatTypes{}, ctx.tensor(0).dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      return run_typed<T>(ctx, attrs_, dims, seq_lens);
    });
  }

 private:
  RnnAttrs attrs_;
};

KernelFactory make_recurrent(CellKind kind) {
  return [kind](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    KILN_ASSIGN_OR_RETURN(RnnAttrs attrs, rnn::parse_rnn_attrs(b.node, kind));
    return std::unique_ptr<Kernel>(std::make_unique<RecurrentKernel>(std::move(attrs)));
  };
}

}  // namespace

// Opset 1's output_sequence only says Y is optional, which every opset allows; layout (opset 14)
// defaults to 0, linear_before_reset (GRU-3) to 0, so one kernel serves all versions.
KILN_REGISTER_KERNEL("", "RNN", 1, kMaxOpset, make_recurrent(CellKind::kRnn));
KILN_REGISTER_KERNEL("", "GRU", 1, kMaxOpset, make_recurrent(CellKind::kGru));
KILN_REGISTER_KERNEL("", "LSTM", 1, kMaxOpset, make_recurrent(CellKind::kLstm));

}  // namespace kiln::ref
