// kiln.Gelu: the Gaussian error linear unit, with ONNX opset 20 Gelu's semantics (kiln implements
// opsets up to 17, so the fused node lives in the kiln domain; see src/opt/fuse_gelu.cc).
//   approximate = "none": y = 0.5 * x * (1 + erf(x / sqrt(2)))
//   approximate = "tanh": y = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
// Computed in double, so it is the oracle for the fast kernel.
#include <cmath>

#include "kernels/ref/elementwise.h"

namespace kiln::ref {
namespace {

Expected<std::unique_ptr<Kernel>> make_gelu(const KernelBuildContext& b) {
  const std::string approximate = b.node.attr_string("approximate", "none");
  if (approximate == "none") {
    return make_unary<FloatTypes>([](auto x) {
      using V = decltype(x);
      const double d = static_cast<double>(x);
      return static_cast<V>(0.5 * d * (1.0 + std::erf(d * M_SQRT1_2)));
    });
  }
  if (approximate == "tanh") {
    return make_unary<FloatTypes>([](auto x) {
      using V = decltype(x);
      const double d = static_cast<double>(x);
      const double k = std::sqrt(2.0 / M_PI);
      return static_cast<V>(0.5 * d * (1.0 + std::tanh(k * (d + 0.044715 * d * d * d))));
    });
  }
  return Status::InvalidArgument("Gelu approximate must be \"none\" or \"tanh\", not \"" + approximate + "\"");
}

}  // namespace

KILN_REGISTER_KERNEL("kiln", "Gelu", 1, 1, make_gelu);

}  // namespace kiln::ref
