// The kiln.BlockedSqueezeExcite operator: a whole squeeze-and-excitation block on the blocked layout
// (kernels/blocked_layout.h), shared by its reference and vectorized kernels and by the graph pass
// that creates it (opt/fuse_blocked_squeeze_excite.cc).
//
//   kiln.BlockedSqueezeExcite(X, W1, B1?, W2, B2?) -> Y
//     X    float32, blocked [N, ceil(C/B), H, W, B]
//     W1   [R, C, 1, 1], B1 [R]: the reducing 1x1 convolution (Conv's layout)
//     W2   [C, R, 1, 1], B2 [C]: the expanding 1x1 convolution
//     Y    X's shape
//   Attributes: reduce_activation / reduce_activation_params and expand_activation /
//   expand_activation_params, each one kiln.BlockedConv's activation (Swish included).
//
//   s = GlobalAveragePool(X); r = reduce_activation(Conv(s, W1, B1)); g = expand_activation(Conv(r, W2, B2))
//   Y = X * g, g broadcast over H and W; Y's padding lanes are 0 (X's padding times g's, which is 0).
//
// This is what EfficientNet's blocks compute between the depthwise and the projecting convolution
// (GlobalAveragePool, Conv, SiLU, Conv, Sigmoid, Mul): at batch 1 five small operators whose dispatch
// costs more than their arithmetic.
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln {

inline constexpr const char* kReduceActivationAttr = "reduce_activation";
inline constexpr const char* kReduceActivationParamsAttr = "reduce_activation_params";
inline constexpr const char* kExpandActivationAttr = "expand_activation";
inline constexpr const char* kExpandActivationParamsAttr = "expand_activation_params";

// The kiln.BlockedConv node for one of the two convolutions (`prefix` "reduce" or "expand"), 1x1 with
// that convolution's activation, named after `se`: what the reference runs, and what the pass replaced.
inline ir::Node squeeze_excite_conv_node(const ir::Node& se, const std::string& prefix) {
  ir::Node conv;
  conv.domain = "kiln";
  conv.op_type = "BlockedConv";
  conv.name = se.name;
  const std::string act = se.attr_string(prefix + "_activation");
  if (!act.empty()) {
    conv.attributes.push_back(ir::Attribute::of_string("activation", act));
    const std::vector<float> params = se.attr_floats(prefix + "_activation_params");
    if (!params.empty()) conv.attributes.push_back(ir::Attribute::of_floats("activation_params", params));
  }
  return conv;
}

}  // namespace kiln
