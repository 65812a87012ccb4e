// The reference for the activation a fused node carries (kernels/fused_activation.h): the activation's
// own reference kernel run on the fused producer's result, so a fused node computes exactly what the
// two nodes it replaced computed. Gelu (exact, erf form) is computed here, since it has no ONNX kernel
// below opset 20.
#pragma once

#include <memory>

#include "kernels/fused_activation.h"
#include "kernels/kernel.h"

namespace kiln::ref {

class FusedActivationReference {
 public:
  // Builds the inner kernel for `act` (a no-op when act.op is empty). Errors name the activation.
  static Expected<FusedActivationReference> make(const FusedActivation& act, const std::string& node_name);

  // Applies the activation to `x` and returns the result (x itself when there is none). Thread-safe.
  Expected<Value> apply(Value x, const Frame* frame) const;

 private:
  std::shared_ptr<const Kernel> kernel_;  // null: none, or Gelu
  bool gelu_ = false;
  std::vector<float> clip_bounds_;  // Clip's min and max, passed as inputs 1 and 2
};

}  // namespace kiln::ref
