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
  // Of another type, an attribute would read as empty: the node would run without its activation.
  const ir::Attribute* op = node.find_attr(kActivationAttr);
  if (op != nullptr && op->type != ir::Attribute::Type::kString) {
    return Status::InvalidArgument(std::string(kActivationAttr) + " must be a string");
  }
  const ir::Attribute* params = node.find_attr(kActivationParamsAttr);
  if (params != nullptr && params->type != ir::Attribute::Type::kFloats) {
    return Status::InvalidArgument(std::string(kActivationParamsAttr) + " must be a list of floats");
  }
  FusedActivation act;
  act.op = node.attr_string(kActivationAttr);
  act.params = node.attr_floats(kActivationParamsAttr);
  if (act.op.empty()) {
    if (!act.params.empty())
      return Status::InvalidArgument(std::string(kActivationParamsAttr) + " without an activation");
    return act;
  }
  const int n = param_count(act.op);
  if (n < 0) return Status::InvalidArgument("activation '" + act.op + "' cannot be fused");
  if (static_cast<int>(act.params.size()) != n) {
    return Status::InvalidArgument("activation " + act.op + " takes " + std::to_string(n) +
                                   " activation_params, got " + std::to_string(act.params.size()));
  }
  return act;
}

std::optional<vec::UnaryFn> fused_activation_unary(const FusedActivation& a) {
  using vec::UnaryOp;
  if (a.op == "Relu") return vec::UnaryFn{UnaryOp::kRelu};
  if (a.op == "Sigmoid") return vec::UnaryFn{UnaryOp::kSigmoid};
  if (a.op == "Tanh") return vec::UnaryFn{UnaryOp::kTanh};
  if (a.op == "HardSwish") return vec::UnaryFn{UnaryOp::kHardSwish};
  if (a.op == "LeakyRelu") return vec::UnaryFn{UnaryOp::kLeakyRelu, a.params[0]};
  if (a.op == "Clip") return vec::UnaryFn{UnaryOp::kClip, a.params[0], a.params[1]};
  if (a.op == "HardSigmoid") return vec::UnaryFn{UnaryOp::kHardSigmoid, a.params[0], a.params[1]};
  return std::nullopt;
}

}  // namespace kiln
