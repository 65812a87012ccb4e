// Runs the graph passes on a loaded model, in an order where each one exposes work for the next:
//   remove_identity -> fold_constants -> fold_batchnorm_into_conv -> fuse_conv_activation
//   -> fuse_gelu -> fuse_attention -> fuse_layer_norm -> fuse_skip_layer_norm
//   -> fold_batchnorm_into_gemm -> fuse_matmul_bias -> fuse_matmul_activation
//   -> convert_to_blocked_layout -> fuse_blocked_conv_add -> fuse_blocked_conv_swish
//   -> fuse_blocked_conv_depthwise -> fuse_blocked_stem_depthwise -> fuse_blocked_squeeze_excite
//   -> move_swish_into_depthwise -> fuse_swish
// (passes that fuse a pattern into an activation, such as Gelu, go before fuse_matmul_activation, and
// passes that match plain MatMul + Add, such as attention, before fuse_matmul_bias)
// then drops initializers nothing reads any more, and imports the "kiln" domain when a pass created
// kiln-domain nodes. Session calls it before planning (SessionOptions::optimize).
#pragma once

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::opt {

// Rewrites `model` in place. Errors name the model and the pass.
Status optimize_model(ir::Model& model);

}  // namespace kiln::opt
