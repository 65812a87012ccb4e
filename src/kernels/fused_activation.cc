#include "kernels/fused_activation.h"

namespace kiln {
namespace {

// Number of parameters each fusable activation carries.
int param_count(const std::string& op) {
  if (op == "Relu" || op == "Sigmoid" || op == "HardSwish" || op == "Tanh" || op == "Gelu") return 0;
  if (op == "LeakyRelu") return 1;
  if (op == "Clip" || op == "HardSigmoid") return 2;
  return -1;
}

}  // namespace

bool is_fusable_activation(const std::string& op) { return param_count(op) >= 0; }

Expected<FusedActivation> parse_fused_activation(const ir::Node& node) {
  FusedActivation act;
  act.op = node.attr_string(kActivationAttr);
  act.params = node.attr_floats(kActivationParamsAttr);
  if (act.op.empty()) return act;
  const int n = param_count(act.op);
  if (n < 0) return Status::InvalidArgument("activation '" + act.op + "' cannot be fused");
  if (static_cast<int>(act.params.size()) != n) {
    return Status::InvalidArgument("activation " + act.op + " takes " + std::to_string(n) +
                                   " activation_params, got " + std::to_string(act.params.size()));
  }
  return act;
}

}  // namespace kiln
