// The kiln.BlockedConv operator, shared by its reference and oneDNN kernels and by the graph passes
// that create it (convert_to_blocked_layout, fuse_blocked_conv_add, fuse_blocked_conv_swish).
//
//   kiln.BlockedConv(X, W, B?, Sum?) -> Y
//     X    float32, blocked [N, ceil(C/B), H, W, B] (kernels/blocked_layout.h), or plain [N, C, H, W]
//          when input_layout is "plain" (a network's first convolution, C = 3: oneDNN reads it directly)
//     W, B as Conv's (plain ONNX layout; the kernels pack W once)
//     Sum  optional, blocked, Y's shape: added to the convolution before the activation (a residual)
//     Y    blocked [N, ceil(M/B), OH, OW, B]: B is X's block, or channel_block for plain X
//   Attributes: Conv's, plus kiln.FusedConv's activation / activation_params, where activation may
//   also be "Swish" (x * sigmoid(x), no params), input_layout ("blocked" or "plain"), channel_block
//   (Y's block when X is plain; default 16) and input_activation ("Swish" or absent: an activation of
//   X, the producer's moved here, which a depthwise kernel applies as it loads X's rows; see
//   opt/move_swish_into_depthwise.cc).
//   Y = activation(Conv(input_activation(X), W, B) + Sum).
#pragma once

#include <string>

#include "kernels/blocked_layout.h"
#include "kernels/fused_activation.h"

namespace kiln {

inline constexpr const char* kInputLayoutAttr = "input_layout";
inline constexpr const char* kInputActivationAttr = "input_activation";
inline constexpr const char* kSwish = "Swish";

// True if X is plain for this node (input_layout = "plain").
inline bool blocked_conv_plain_input(const ir::Node& node) { return node.attr_string(kInputLayoutAttr) == "plain"; }

// The node's activation (fused_activation.h), accepting Swish too; errors name the problem.
inline Expected<FusedActivation> parse_blocked_conv_activation(const ir::Node& node) {
  if (node.attr_string(kActivationAttr) == kSwish) {
    if (!node.attr_floats(kActivationParamsAttr).empty()) {
      return Status::InvalidArgument("activation Swish takes no activation_params");
    }
    return FusedActivation{kSwish, {}};
  }
  return parse_fused_activation(node);
}

// True if the activation keeps 0 at 0 (none, Relu, Swish, or Clip with min <= 0 <= max): the vector
// kernels of the fused blocks take these, so that Y's padding lanes (zero weights and bias) stay 0.
inline bool activation_keeps_zero(const FusedActivation& a) {
  if (a.op.empty() || a.op == "Relu" || a.op == kSwish) return true;
  return a.op == "Clip" && a.params.size() == 2 && a.params[0] <= 0.0f && a.params[1] >= 0.0f;
}

// True if X goes through SiLU first (input_activation = "Swish"); any other value is an error
// (check_blocked_conv_input_activation).
inline bool blocked_conv_input_swish(const ir::Node& node) { return node.attr_string(kInputActivationAttr) == kSwish; }

inline Status check_blocked_conv_input_activation(const ir::Node& node) {
  const std::string a = node.attr_string(kInputActivationAttr);
  if (a.empty() || a == kSwish) return Status::OK();
  return Status::InvalidArgument("attribute input_activation is '" + a + "', expected Swish or none");
}

// The node as the plain Conv it contains: domain "", op Conv, only Conv's attributes and inputs.
inline ir::Node inner_conv_node(const ir::Node& node) {
  ir::Node conv = node;
  conv.domain = "";
  conv.op_type = "Conv";
  std::erase_if(conv.attributes, [](const ir::Attribute& a) {
    return a.name == kActivationAttr || a.name == kActivationParamsAttr || a.name == kInputLayoutAttr ||
           a.name == kChannelBlockAttr || a.name == kInputActivationAttr;
  });
  if (conv.inputs.size() > 3) conv.inputs.resize(3);
  return conv;
}

}  // namespace kiln
