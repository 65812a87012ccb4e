// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opsets 12 and 13).
//
// Both gather -input[n, target[n, d...], d...] over input [N, C, d1..dk] and target [N, d1..dk], scaled
// by weight[target] (1 without weights) and 0 where target == ignore_index. Reduction "mean" divides
// the weighted sum by the sum of the weights actually used, as the ONNX reference does (NaN when every
// element is ignored); "sum" sums; "none" keeps target's shape. SoftmaxCrossEntropyLoss first takes
// log_softmax over axis 1 and can also output it.
#include <cmath>
#include <limits>
#include <optional>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

enum class Reduction { kNone, kSum, kMean };

struct LossAttrs {
  Reduction reduction = Reduction::kMean;
  std::optional<int64_t> ignore_index;
};

Expected<LossAttrs> parse_loss_attrs(const ir::Node& n) {
  LossAttrs a;
  const std::string r = n.attr_string("reduction", "mean");
  if (r == "none") {
    a.reduction = Reduction::kNone;
  } else if (r == "sum") {
    a.reduction = Reduction::kSum;
  } else if (r == "mean") {
    a.reduction = Reduction::kMean;
  } else {
    return Status::InvalidArgument("reduction must be none, sum or mean, got '" + r + "'");
  }
  if (n.has_attr("ignore_index")) a.ignore_index = n.attr_int("ignore_index", 0);
  return a;
}

// Checks input / target / weight shapes and reads target as int64.
struct LossShapes {
  int64_t n = 0, c = 0, d = 1;  // input viewed as [N, C, D]
  std::vector<int64_t> target;
};

Expected<LossShapes> check_loss_inputs(const KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
  const Tensor& x = ctx.tensor(0);
  const Tensor& t = ctx.tensor(1);
  if (x.rank() < 2) return Status::InvalidArgument("input must have rank >= 2, got shape " + shape_to_string(x.shape()));
  if (t.rank() != x.rank() - 1 || t.dim(0) != x.dim(0) ||
      !std::equal(t.shape().begin() + 1, t.shape().end(), x.shape().begin() + 2)) {
    return Status::InvalidArgument("target shape " + shape_to_string(t.shape()) + " does not match input shape " +
                                   shape_to_string(x.shape()) + " (expected [N, d1, ..., dk])");
  }
  LossShapes s;
  s.n = x.dim(0);
  s.c = x.dim(1);
  for (int64_t i = 2; i < x.rank(); ++i) s.d *= x.dim(i);
  KILN_ASSIGN_OR_RETURN(s.target, read_int_list(t.reshaped({t.size()}), "target"));
  if (ctx.has_input(2)) {
    if (!ctx.input(2).is_tensor()) return Status::InvalidArgument("weight must be a tensor");
    const Tensor& w = ctx.tensor(2);
    if (w.dtype() != x.dtype()) return Status::InvalidArgument("weight must have the element type of input");
    if (w.shape() != Shape{s.c}) {
      return Status::InvalidArgument("weight must have shape [" + std::to_string(s.c) + "], got " +
                                     shape_to_string(w.shape()));
    }
  }
  return s;
}

// Computes the loss from log-probabilities `logp` laid out as [N, C, D]. Output has target's shape
// for reduction none, else is a scalar.
template <typename T>
Expected<Tensor> nll(const std::vector<double>& logp, const LossShapes& s, const Tensor* weight,
                     const LossAttrs& attrs, const Shape& target_shape) {
  std::vector<double> loss(static_cast<size_t>(s.n * s.d), 0.0);
  double weight_sum = 0, loss_sum = 0;
  for (int64_t i = 0; i < s.n; ++i) {
    for (int64_t k = 0; k < s.d; ++k) {
      const size_t o = static_cast<size_t>(i * s.d + k);
      const int64_t cls = s.target[o];
      if (attrs.ignore_index && cls == *attrs.ignore_index) continue;
      if (cls < 0 || cls >= s.c) {
        return Status::InvalidArgument("target value " + std::to_string(cls) + " is outside [0, " +
                                       std::to_string(s.c) + ")");
      }
      const double w = weight ? static_cast<double>(static_cast<ComputeType<T>>(weight->data<T>()[cls])) : 1.0;
      loss[o] = -logp[static_cast<size_t>((i * s.c + cls) * s.d + k)] * w;
      weight_sum += w;
      loss_sum += loss[o];
    }
  }
  if (attrs.reduction == Reduction::kNone) {
    Tensor out(data_type_of<T>, target_shape);
    for (size_t i = 0; i < loss.size(); ++i) out.data<T>()[i] = T(static_cast<ComputeType<T>>(loss[i]));
    return out;
  }
  const double v = attrs.reduction == Reduction::kSum ? loss_sum : loss_sum / weight_sum;
  return Tensor::scalar<T>(T(static_cast<ComputeType<T>>(v)));
}

class LossKernel : public Kernel {
 public:
  LossKernel(LossAttrs attrs, bool softmax) : attrs_(std::move(attrs)), softmax_(softmax) {}

  Status run(KernelContext& ctx) const override {
    KILN_ASSIGN_OR_RETURN(const LossShapes s, check_loss_inputs(ctx));
    const Tensor& x = ctx.tensor(0);
    const Tensor* weight = ctx.has_input(2) ? &ctx.tensor(2) : nullptr;
    return visit_type(FloatTypes{}, x.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      std::vector<double> logp(static_cast<size_t>(x.size()));
      const T* in = x.data<T>();
      for (size_t i = 0; i < logp.size(); ++i) logp[i] = static_cast<double>(static_cast<ComputeType<T>>(in[i]));
      if (softmax_) log_softmax_axis1(&logp, s);
      KILN_ASSIGN_OR_RETURN(Tensor loss, nll<T>(logp, s, weight, attrs_, ctx.tensor(1).shape()));
      ctx.set_output(0, Value(std::move(loss)));
      if (softmax_ && ctx.num_outputs() > 1) {
        Tensor lp(data_type_of<T>, x.shape());
        for (size_t i = 0; i < logp.size(); ++i) lp.data<T>()[i] = T(static_cast<ComputeType<T>>(logp[i]));
        ctx.set_output(1, Value(std::move(lp)));
      }
      return Status::OK();
    });
  }

 private:
  // In place over [N, C, D]: v - max - log(sum(exp(v - max))) along C.
  static void log_softmax_axis1(std::vector<double>* v, const LossShapes& s) {
    double* p = v->data();
    for (int64_t i = 0; i < s.n; ++i) {
      for (int64_t k = 0; k < s.d; ++k) {
        double* base = p + i * s.c * s.d + k;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t c = 0; c < s.c; ++c) mx = std::max(mx, base[c * s.d]);
        if (!std::isfinite(mx)) mx = 0;
        double sum = 0;
        for (int64_t c = 0; c < s.c; ++c) sum += std::exp(base[c * s.d] - mx);
        const double lse = mx + std::log(sum);
        for (int64_t c = 0; c < s.c; ++c) base[c * s.d] -= lse;
      }
    }
  }

  LossAttrs attrs_;
  bool softmax_;
};

KernelFactory make_loss(bool softmax) {
  return [softmax](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    KILN_ASSIGN_OR_RETURN(LossAttrs attrs, parse_loss_attrs(b.node));
    return std::unique_ptr<Kernel>(std::make_unique<LossKernel>(std::move(attrs), softmax));
  };
}

}  // namespace

KILN_REGISTER_KERNEL("", "NegativeLogLikelihoodLoss", 12, kMaxOpset, make_loss(false));
KILN_REGISTER_KERNEL("", "SoftmaxCrossEntropyLoss", 12, kMaxOpset, make_loss(true));

}  // namespace kiln::ref
