// Softmax, LogSoftmax and Hardmax.
//
// Opsets 1..12 coerce the input to 2-D at `axis` (default 1) and normalize each row of
// prod(shape[axis:]) elements; opset 13+ normalizes along the single dimension `axis` (default -1).
#include <cmath>
#include <limits>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

class SoftmaxKernel : public Kernel {
 public:
  SoftmaxKernel(SoftmaxKind kind, int64_t axis, bool coerce_2d) : kind_(kind), axis_(axis), coerce_2d_(coerce_2d) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_, x.rank()));
    // The reduction runs over `n` elements spaced `inner` apart, `outer` times.
    int64_t outer = 1, n = 1, inner = 1;
    for (int64_t d = 0; d < x.rank(); ++d) {
      if (d < axis) {
        outer *= x.dim(d);
      } else if (d == axis || coerce_2d_) {
        n *= x.dim(d);
      } else {
        inner *= x.dim(d);
      }
    }
    Tensor y(x.dtype(), x.shape());
    return visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
      const T* xd = x.data<T>();
      T* yd = y.data<T>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t base = o * n * inner + i;
          auto at = [&](int64_t k) { return base + k * inner; };
          if (n == 0) continue;
          A mx = static_cast<A>(xd[at(0)]);
          int64_t arg = 0;
          for (int64_t k = 1; k < n; ++k) {
            const A v = static_cast<A>(xd[at(k)]);
            if (v > mx) {
              mx = v;
              arg = k;
            }
          }
          if (kind_ == SoftmaxKind::kHardmax) {
            for (int64_t k = 0; k < n; ++k) yd[at(k)] = static_cast<T>(A(k == arg ? 1 : 0));
            continue;
          }
          // Subtracting the max keeps exp() finite for large inputs.
          A sum = 0;
          for (int64_t k = 0; k < n; ++k) sum += std::exp(static_cast<A>(xd[at(k)]) - mx);
          if (kind_ == SoftmaxKind::kSoftmax) {
            for (int64_t k = 0; k < n; ++k) yd[at(k)] = static_cast<T>(std::exp(static_cast<A>(xd[at(k)]) - mx) / sum);
          } else {
            const A log_sum = std::log(sum);
            for (int64_t k = 0; k < n; ++k) yd[at(k)] = static_cast<T>(static_cast<A>(xd[at(k)]) - mx - log_sum);
          }
        }
      }
      ctx.set_output(0, Value(std::move(y)));
      return Status::OK();
    });
  }

 private:
  SoftmaxKind kind_;
  int64_t axis_;
  bool coerce_2d_;
};

KernelFactory softmax_factory(SoftmaxKind kind) {
  return [kind](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    const bool legacy = b.opset < 13;
    return std::unique_ptr<Kernel>(
        std::make_unique<SoftmaxKernel>(kind, b.node.attr_int("axis", legacy ? 1 : -1), legacy));
  };
}

}  // namespace

KILN_REGISTER_KERNEL("", "Softmax", 1, kMaxOpset, softmax_factory(SoftmaxKind::kSoftmax));
KILN_REGISTER_KERNEL("", "LogSoftmax", 1, kMaxOpset, softmax_factory(SoftmaxKind::kLogSoftmax));
KILN_REGISTER_KERNEL("", "Hardmax", 1, kMaxOpset, softmax_factory(SoftmaxKind::kHardmax));

}  // namespace kiln::ref
