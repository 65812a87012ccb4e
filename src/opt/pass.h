// Graph passes: pure ir::Graph -> ir::Graph rewrites that keep every graph output's value (within
// float rounding) while making the graph cheaper to run. One pass per file; pass_manager.h runs them.
//
// A pass only rewrites the graph it is given (not the bodies of If/Loop/Scan), and never touches a
// value that a graph output names or a subgraph reads, so the rewritten graph has the same interface.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "ir/graph.h"
#include "kernels/fused_activation.h"
#include "kiln/status.h"

namespace kiln::opt {

struct PassContext {
  std::map<std::string, int64_t> opsets;  // the model's opset per domain ("" = ai.onnx)
  // The channel block of the blocked layout convert_to_blocked_layout converts to (8 or 16; any block
  // >= 1 runs, on the reference kernels beyond those two); 0 leaves the graph plain. optimize_model
  // passes the process's choice (kernels/dnnl/channel_block.h).
  int64_t channel_block = 16;
};

// Each returns whether it changed the graph; errors name the node and the reason.
Expected<bool> remove_identity(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fold_constants(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fold_batchnorm_into_conv(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_conv_activation(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fold_batchnorm_into_gemm(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_matmul_bias(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_matmul_activation(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_swish(ir::Graph& graph, const PassContext& ctx);
// Transformer encoder fusions (kiln.Gelu, kiln.LayerNormalization, kiln.SkipLayerNormalization,
// kiln.Attention); each file's header comment gives the exact pattern.
Expected<bool> fuse_gelu(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_attention(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_layer_norm(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_skip_layer_norm(ir::Graph& graph, const PassContext& ctx);
Expected<bool> convert_to_blocked_layout(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_blocked_conv_add(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_blocked_conv_swish(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_blocked_conv_depthwise(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_blocked_stem_depthwise(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_blocked_squeeze_excite(ir::Graph& graph, const PassContext& ctx);
Expected<bool> fuse_squeeze_excite_projection(ir::Graph& graph, const PassContext& ctx);
Expected<bool> move_swish_into_depthwise(ir::Graph& graph, const PassContext& ctx);

// What the passes need to know about how values are used.
struct ValueUses {
  std::map<std::string, int> readers;   // name -> number of node inputs reading it (main graph)
  std::set<std::string> pinned;         // graph outputs and names subgraphs read: never renamed or removed
  std::set<std::string> formal_inputs;  // graph inputs (an initializer with the same name is a default only)
};
ValueUses value_uses(const ir::Graph& graph);

// The initializer named `name` if it is a true constant (no graph input overrides it), else nullptr.
const Tensor* constant_value(const ir::Graph& graph, const ValueUses& uses, const std::string& name);
// constant_value(), when it is a rank-1 float32 tensor of `size` elements (a bias, BatchNorm's
// statistics); else nullptr.
const Tensor* float_vector_constant(const ir::Graph& graph, const ValueUses& uses, const std::string& name,
                                    int64_t size);

// The index of the node producing each value of the main graph.
std::map<std::string, size_t> producers(const ir::Graph& graph);

// The activation node `n` computes, as a fused node carries it (kernels/fused_activation.h), or nullopt
// when it cannot be fused (not a fusable activation, Clip with runtime bounds). `opset`: the model's.
std::optional<FusedActivation> fusable_activation(const ir::Graph& g, const ValueUses& u, const ir::Node& n,
                                                  int64_t opset);
// Adds the "activation" (and "activation_params") attributes of a fused node.
void set_fused_activation(ir::Node& node, const FusedActivation& act);

// A name no value in `graph` has, built from `base`.
std::string fresh_name(const ir::Graph& graph, const std::string& base);

// True if no node depends (through its inputs) on itself. The passes assume it: on a cyclic graph
// they could shrink the cycle into a self-loop and hide it from the planner's cycle error.
bool is_acyclic(const ir::Graph& graph);

// True for a BatchNormalization that normalizes with its stored statistics (inference mode), the only
// kind a pass may fold into the node before it.
bool is_inference_batchnorm(const ir::Node& n, int64_t opset);

// Replaces every read of `from` by `to` in the main graph's node inputs.
void rename_reads(ir::Graph& graph, const std::string& from, const std::string& to);

// Removes the nodes whose `erase` flag is set, keeping the order of the rest.
void erase_nodes(ir::Graph& graph, const std::vector<bool>& erase);

}  // namespace kiln::opt
