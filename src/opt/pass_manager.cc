#include "opt/pass_manager.h"

#include "kernels/dnnl/channel_block.h"
#include "opt/pass.h"

namespace kiln::opt {
namespace {

struct NamedPass {
  const char* name;
  Expected<bool> (*run)(ir::Graph&, const PassContext&);
};

constexpr NamedPass kPasses[] = {
    {"remove_identity", remove_identity},
    {"fold_constants", fold_constants},
    {"fold_batchnorm_into_conv", fold_batchnorm_into_conv},
    {"fuse_conv_activation", fuse_conv_activation},
    // Transformer patterns first: they match plain MatMul/Add/Erf chains that the matmul passes below
    // would otherwise fuse away (fuse_gelu before fuse_matmul_activation, attention before fuse_matmul_bias).
    {"fuse_gelu", fuse_gelu},
    {"fuse_attention", fuse_attention},
    {"fuse_layer_norm", fuse_layer_norm},
    {"fuse_skip_layer_norm", fuse_skip_layer_norm},
    {"fold_batchnorm_into_gemm", fold_batchnorm_into_gemm},
    {"fuse_matmul_bias", fuse_matmul_bias},
    {"fuse_matmul_activation", fuse_matmul_activation},
    // After the conv fusions above, which it carries into its blocked nodes.
    {"convert_to_blocked_layout", convert_to_blocked_layout},
    {"fuse_blocked_conv_add", fuse_blocked_conv_add},
    {"fuse_blocked_conv_swish", fuse_blocked_conv_swish},
    // After fuse_blocked_conv_swish, so that both convolutions carry their SiLU.
    {"fuse_blocked_conv_depthwise", fuse_blocked_conv_depthwise},
    // After fuse_blocked_conv_swish (the stem's SiLU) and before move_swish_into_depthwise (which
    // would move it onto the depthwise node).
    {"fuse_blocked_stem_depthwise", fuse_blocked_stem_depthwise},
    // After fuse_blocked_conv_swish, which makes the SiLU inside a squeeze-excite block its first
    // convolution's activation.
    {"fuse_blocked_squeeze_excite", fuse_blocked_squeeze_excite},
    // After fuse_blocked_squeeze_excite, whose node it joins to the projection, and
    // fuse_blocked_conv_add, which gives the projection its residual.
    {"fuse_squeeze_excite_projection", fuse_squeeze_excite_projection},
    // After fuse_blocked_conv_swish (the SiLU it moves) and fuse_blocked_conv_depthwise (whose pairs,
    // SiLU ones too, it no longer sees).
    {"move_swish_into_depthwise", move_swish_into_depthwise},
    // Last: fuse_blocked_conv_swish takes a swish after a convolution whole (as a post-op); this one
    // turns the swishes left over into single kiln.Swish nodes.
    {"fuse_swish", fuse_swish},
};

// Initializers that were inputs of folded or rewritten nodes and are read by nothing now.
void drop_unused_initializers(ir::Graph& graph) {
  const ValueUses uses = value_uses(graph);
  for (auto it = graph.initializers.begin(); it != graph.initializers.end();) {
    const std::string& name = it->first;
    if (uses.readers.count(name) || uses.pinned.count(name) || uses.formal_inputs.count(name)) {
      ++it;
    } else {
      it = graph.initializers.erase(it);
    }
  }
}

}  // namespace

Status optimize_model(ir::Model& model) {
  // A cyclic graph is left as it is, for the planner to report.
  if (!is_acyclic(model.graph)) return Status::OK();
  const PassContext ctx{model.opsets, dnnl_kernels::process_channel_block()};
  for (const NamedPass& pass : kPasses) {
    auto changed = pass.run(model.graph, ctx);
    if (!changed.ok()) return changed.status().with_context(model.source + ": pass " + pass.name);
  }
  drop_unused_initializers(model.graph);
  for (const ir::Node& n : model.graph.nodes) {
    if (n.domain == "kiln") {
      model.opsets.emplace("kiln", 1);
      break;
    }
  }
  return Status::OK();
}

}  // namespace kiln::opt
