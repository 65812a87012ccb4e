// Dropout.
//
// Opsets 1..11 take `ratio` (and 1..6 `is_test`) as attributes; kiln runs these graphs in inference
// mode, where Dropout is the identity and the mask is all ones (of X's type before opset 10, bool
// from 10). Opset 12+ take ratio and training_mode as optional inputs: without training_mode (or with
// ratio 0) it is the identity too; with it, elements are dropped at random with probability `ratio`
// and the rest scaled by 1 / (1 - ratio).
#include <random>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

class DropoutKernel : public Kernel {
 public:
  DropoutKernel(bool takes_inputs, bool bool_mask, bool has_seed, int64_t seed)
      : takes_inputs_(takes_inputs), bool_mask_(bool_mask), has_seed_(has_seed), seed_(seed) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (!is_floating(x.dtype())) return Status::InvalidArgument("data must be a floating-point tensor");
    double ratio = 0.5;
    bool training = false;
    if (takes_inputs_) {
      if (ctx.has_input(1) && ctx.input(1).is_tensor()) {
        KILN_ASSIGN_OR_RETURN(ratio, read_scalar(ctx.tensor(1), "ratio"));
        if (!(ratio >= 0 && ratio < 1)) {
          return Status::InvalidArgument("ratio must be in [0, 1), got " + std::to_string(ratio));
        }
      }
      if (ctx.has_input(2) && ctx.input(2).is_tensor()) {
        const Tensor& t = ctx.tensor(2);
        if (t.dtype() != DataType::kBool || t.size() != 1) {
          return Status::InvalidArgument("training_mode must be a bool scalar");
        }
        training = t.data<bool>()[0];
      }
    }
    const bool want_mask = ctx.num_outputs() > 1;
    if (!training || ratio == 0) {
      ctx.set_output(0, ctx.input(0));
      if (want_mask) {
        if (bool_mask_) {
          Tensor mask(DataType::kBool, x.shape());
          std::fill(mask.data<bool>(), mask.data<bool>() + mask.size(), true);
          ctx.set_output(1, Value(std::move(mask)));
        } else {
          Tensor mask(x.dtype(), x.shape());
          KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
            using T = typename decltype(tag)::type;
            std::fill(mask.data<T>(), mask.data<T>() + mask.size(), T(1.0f));
            return Status::OK();
          }));
          ctx.set_output(1, Value(std::move(mask)));
        }
      }
      return Status::OK();
    }
    // Training mode. The stream is numpy's legacy one (MT19937 seeded like np.random.seed, doubles
    // like random_sample), so a given `seed` reproduces the ONNX reference's masks exactly.
    std::mt19937 gen(has_seed_ ? static_cast<uint32_t>(seed_) : std::random_device{}());
    auto keep = [&ratio](std::mt19937& g) {
      const uint32_t a = g() >> 5, b = g() >> 6;
      const double u = (a * 67108864.0 + b) / 9007199254740992.0;
      return u >= ratio;
    };
    Tensor y(x.dtype(), x.shape());
    Tensor mask(DataType::kBool, x.shape());
    const double scale = 1.0 / (1.0 - ratio);
    KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
      for (int64_t i = 0; i < x.size(); ++i) {
        const bool k = keep(gen);
        mask.data<bool>()[i] = k;
        y.data<T>()[i] = static_cast<T>(k ? static_cast<A>(static_cast<A>(x.data<T>()[i]) * static_cast<A>(scale)) : A(0));
      }
      return Status::OK();
    }));
    ctx.set_output(0, Value(std::move(y)));
    if (want_mask) ctx.set_output(1, Value(std::move(mask)));
    return Status::OK();
  }

 private:
  bool takes_inputs_;
  bool bool_mask_;
  bool has_seed_;
  int64_t seed_;
};

Expected<std::unique_ptr<Kernel>> make_dropout(const KernelBuildContext& b) {
  if (b.opset < 12) {
    const float ratio = b.node.attr_float("ratio", 0.5f);
    if (!(ratio >= 0 && ratio <= 1)) return Status::InvalidArgument("ratio must be in [0, 1]");
  }
  return std::unique_ptr<Kernel>(std::make_unique<DropoutKernel>(b.opset >= 12, b.opset >= 10,
                                                                 b.node.has_attr("seed"), b.node.attr_int("seed", 0)));
}

}  // namespace

KILN_REGISTER_KERNEL("", "Dropout", 1, kMaxOpset, make_dropout);

}  // namespace kiln::ref
