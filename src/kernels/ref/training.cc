// The optimizers of the ai.onnx.preview.training domain (opset 1): Adagrad, Adam, Momentum.
//
// Each updates n tensors at once. Inputs are R (learning rate, scalar), T (update count, int64 scalar)
// and then n tensors per role, role by role: Adagrad X.. G.. H..; Momentum X.. G.. V..; Adam X.. G.. V..
// H... Outputs are the new values of every role but G, in the same order. Arithmetic is in double.
#include <cmath>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

enum class Optimizer { kAdagrad, kMomentum, kAdam };

struct OptimizerAttrs {
  Optimizer kind = Optimizer::kAdagrad;
  double norm_coefficient = 0;
  double norm_coefficient_post = 0;  // Adam
  double epsilon = 1e-6;             // Adagrad, Adam
  double decay_factor = 0;           // Adagrad
  double alpha = 0.9;                // Adam, Momentum
  double beta = 0.999;               // Adam, Momentum
  bool nesterov = false;             // Momentum
};

// Tensors per optimized variable among the inputs (after R and T).
int roles(Optimizer kind) { return kind == Optimizer::kAdam ? 4 : 3; }

// One variable's update, element by element. `state` holds the optimizer's per-variable tensors
// (H for Adagrad, V for Momentum, V and H for Adam), updated in place.
void update(const OptimizerAttrs& a, double r, int64_t t, double& x, double g, double* state) {
  const double g_reg = a.norm_coefficient * x + g;
  switch (a.kind) {
    case Optimizer::kAdagrad: {
      const double r_adj = r / (1 + static_cast<double>(t) * a.decay_factor);
      double& h = state[0];
      h += g_reg * g_reg;
      x -= r_adj * g_reg / (std::sqrt(h) + a.epsilon);
      break;
    }
    case Optimizer::kMomentum: {
      const double beta_adj = t > 0 ? a.beta : 1.0;  // the first step takes the whole gradient
      double& v = state[0];
      v = a.alpha * v + beta_adj * g_reg;
      x -= a.nesterov ? r * (g_reg + a.alpha * v) : r * v;
      break;
    }
    case Optimizer::kAdam: {
      double& v = state[0];
      double& h = state[1];
      v = a.alpha * v + (1 - a.alpha) * g_reg;
      h = a.beta * h + (1 - a.beta) * g_reg * g_reg;
      const double td = static_cast<double>(t);
      const double r_adj = t > 0 ? r * std::sqrt(1 - std::pow(a.beta, td)) / (1 - std::pow(a.alpha, td)) : r;
      x = (1 - a.norm_coefficient_post) * (x - r_adj * v / (std::sqrt(h) + a.epsilon));
      break;
    }
  }
}

class OptimizerKernel : public Kernel {
 public:
  explicit OptimizerKernel(OptimizerAttrs attrs) : a_(attrs) {}

  Status run(KernelContext& ctx) const override {
    const size_t k = static_cast<size_t>(roles(a_.kind));
    if (ctx.num_inputs() < 2 + k || (ctx.num_inputs() - 2) % k != 0) {
      return Status::InvalidArgument("expected R, T and " + std::to_string(k) + " tensors per variable, got " +
                                     std::to_string(ctx.num_inputs()) + " inputs");
    }
    const size_t n = (ctx.num_inputs() - 2) / k;
    const size_t n_out_roles = k - 1;  // every role but G
    if (ctx.num_outputs() > n * n_out_roles) {
      return Status::InvalidArgument("expected at most " + std::to_string(n * n_out_roles) + " outputs, got " +
                                     std::to_string(ctx.num_outputs()));
    }
    for (size_t i = 0; i < ctx.num_inputs(); ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    if (!is_floating(ctx.tensor(0).dtype())) return Status::InvalidArgument("R must be float or double");
    KILN_ASSIGN_OR_RETURN(const double r, read_scalar(ctx.tensor(0), "R"));
    if (ctx.tensor(1).dtype() != DataType::kInt64 || ctx.tensor(1).size() != 1) {
      return Status::InvalidArgument("T must be an int64 scalar");
    }
    const int64_t t = ctx.tensor(1).data<int64_t>()[0];

    for (size_t v = 0; v < n; ++v) {
      const Tensor& x = ctx.tensor(2 + v);
      for (size_t role = 1; role < k; ++role) {
        const Tensor& other = ctx.tensor(2 + role * n + v);
        if (other.dtype() != x.dtype() || other.shape() != x.shape()) {
          return Status::InvalidArgument("input " + std::to_string(2 + role * n + v) + " must match X" +
                                         std::to_string(v + 1) + " (" + std::string(data_type_name(x.dtype())) +
                                         shape_to_string(x.shape()) + ")");
        }
      }
      KILN_RETURN_IF_ERROR(visit_type(TypeList<float, double>{}, x.dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* g = ctx.tensor(2 + n + v).data<T>();
        Tensor x_new(data_type_of<T>, x.shape());
        std::vector<Tensor> state_new;
        for (size_t s = 0; s + 2 < k; ++s) state_new.emplace_back(data_type_of<T>, x.shape());
        double state[2] = {0, 0};
        for (int64_t e = 0; e < x.size(); ++e) {
          double xv = x.data<T>()[e];
          for (size_t s = 0; s < state_new.size(); ++s) state[s] = ctx.tensor(2 + (2 + s) * n + v).data<T>()[e];
          update(a_, r, t, xv, static_cast<double>(g[e]), state);
          x_new.data<T>()[e] = static_cast<T>(xv);
          for (size_t s = 0; s < state_new.size(); ++s) state_new[s].data<T>()[e] = static_cast<T>(state[s]);
        }
        if (v < ctx.num_outputs()) ctx.set_output(v, Value(std::move(x_new)));
        for (size_t s = 0; s < state_new.size(); ++s) {
          const size_t o = (1 + s) * n + v;
          if (o < ctx.num_outputs()) ctx.set_output(o, Value(std::move(state_new[s])));
        }
        return Status::OK();
      }));
    }
    return Status::OK();
  }

 private:
  OptimizerAttrs a_;
};

KernelFactory make_optimizer(Optimizer kind) {
  return [kind](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    const ir::Node& n = b.node;
    OptimizerAttrs a;
    a.kind = kind;
    a.norm_coefficient = n.attr_float("norm_coefficient", 0.f);
    a.epsilon = n.attr_float("epsilon", 1e-6f);
    switch (kind) {
      case Optimizer::kAdagrad:
        a.decay_factor = n.attr_float("decay_factor", 0.f);
        break;
      case Optimizer::kAdam:
        a.alpha = n.attr_float("alpha", 0.9f);
        a.beta = n.attr_float("beta", 0.999f);
        a.norm_coefficient_post = n.attr_float("norm_coefficient_post", 0.f);
        break;
      case Optimizer::kMomentum: {
        for (const char* req : {"alpha", "beta", "mode", "norm_coefficient"}) {
          if (!n.has_attr(req)) return Status::InvalidArgument(std::string("Momentum requires attribute ") + req);
        }
        a.alpha = n.attr_float("alpha", 0.f);
        a.beta = n.attr_float("beta", 0.f);
        const std::string mode = n.attr_string("mode");
        if (mode != "standard" && mode != "nesterov") {
          return Status::InvalidArgument("mode must be standard or nesterov, got '" + mode + "'");
        }
        a.nesterov = mode == "nesterov";
        break;
      }
    }
    return std::unique_ptr<Kernel>(std::make_unique<OptimizerKernel>(a));
  };
}

constexpr const char* kTrainingDomain = "ai.onnx.preview.training";

}  // namespace

KILN_REGISTER_KERNEL(kTrainingDomain, "Adagrad", 1, 1, make_optimizer(Optimizer::kAdagrad));
KILN_REGISTER_KERNEL(kTrainingDomain, "Adam", 1, 1, make_optimizer(Optimizer::kAdam));
KILN_REGISTER_KERNEL(kTrainingDomain, "Momentum", 1, 1, make_optimizer(Optimizer::kMomentum));

}  // namespace kiln::ref
