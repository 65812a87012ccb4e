// kiln.BlockedSqueezeExciteConv, the reference (the operator: kernels/blocked_squeeze_excite_conv_attrs.h):
// the reference kiln.BlockedSqueezeExcite, then the reference kiln.BlockedConv on its output. Slow by
// design: the oracle the vector kernel is tested against, and its fallback.
#include "kernels/blocked_squeeze_excite_conv_attrs.h"
#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

Expected<std::unique_ptr<Kernel>> make_blocked_squeeze_excite_conv(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> squeeze_excite, build_reference_of(squeeze_excite_node_of(b.node), 1));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> conv, build_reference_of(projection_node_of(b.node), 1));
  return std::unique_ptr<Kernel>(std::make_unique<SqueezeExciteThenConv>(std::move(squeeze_excite), std::move(conv)));
}

}  // namespace

KILN_REGISTER_KERNEL("kiln", "BlockedSqueezeExciteConv", 1, 1, make_blocked_squeeze_excite_conv);

}  // namespace kiln::ref
