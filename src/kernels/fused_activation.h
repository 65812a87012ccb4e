// The activation a kiln-domain fused node (kiln.FusedConv, kiln.FusedMatMul, kiln.FusedGemm) applies to
// its result: the graph pass that fuses the producer + activation writes it, and both the oneDNN kernel
// (as a post-op) and the reference kernel (by running the activation's own reference) read it.
//
// Attributes on the fused node: "activation" (the ONNX op type of the activation) and
// "activation_params" (floats: LeakyRelu alpha; Clip min, max; HardSigmoid alpha, beta; none otherwise).
// "Gelu" is the exact (erf) form, x * (1 + erf(x / sqrt(2))) / 2, whether it came from a kiln.Gelu node
// or an ONNX Gelu (approximate = "none").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kernels/vec/unary_loops.h"
#include "kiln/status.h"

namespace kiln {

struct FusedActivation {
  std::string op;  // "" for none; else Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid, HardSwish, Tanh, Gelu
  std::vector<float> params;  // as listed above
};

// True for the activation op types a fused node can carry.
bool is_fusable_activation(const std::string& op);
// Reads the fused activation of `node`; an unknown op or a wrong parameter count is an error naming it.
Expected<FusedActivation> parse_fused_activation(const ir::Node& node);
// The activation as the vector unary loops compute it (vec::unary_apply, the kernels of the ONNX
// activations themselves), for a kernel that applies it to its output in parts; nullopt for none and
// for Gelu, which they do not compute.
std::optional<vec::UnaryFn> fused_activation_unary(const FusedActivation& a);
// The attribute names a fused node adds to the original node's.
inline constexpr const char* kActivationAttr = "activation";
inline constexpr const char* kActivationParamsAttr = "activation_params";

}  // namespace kiln
