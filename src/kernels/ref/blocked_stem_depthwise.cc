// kiln.BlockedStemDepthwise, the reference (the operator: kernels/blocked_stem_depthwise_attrs.h): the
// reference kiln.BlockedConv of the stem convolution, then that of the depthwise one. Slow by design:
// the oracle the vector kernel is tested against.
#include <string>

#include "kernels/blocked_conv_depthwise_steps.h"
#include "kernels/blocked_stem_depthwise_attrs.h"
#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

class BlockedStemDepthwiseReference : public Kernel {
 public:
  BlockedStemDepthwiseReference(ir::Node node, std::unique_ptr<Kernel> stem)
      : node_(std::move(node)), stem_(std::move(stem)) {}

  Status run(KernelContext& ctx) const override {
    for (size_t i : {0, 1, 3}) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    const Tensor& dw = ctx.tensor(3);
    if (dw.rank() != 4 || dw.dim(1) != 1 || dw.dim(2) != dw.dim(3)) {
      return Status::InvalidArgument("input DW has shape " + shape_to_string(dw.shape()) + ", expected [M, 1, d, d]");
    }
    // The depthwise convolution's group and window are DW's, known only now.
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> depthwise,
                          build_reference_of(stem_depthwise_depthwise_node(node_, dw.dim(0), dw.dim(2)), 1));
    return run_conv_then_depthwise(ctx, *stem_, ctx.input(1), *depthwise, ctx.input(3));
  }

 private:
  ir::Node node_;
  std::unique_ptr<Kernel> stem_;
};

Expected<std::unique_ptr<Kernel>> make_blocked_stem_depthwise(const KernelBuildContext& b) {
  const int64_t stride = b.node.attr_int(kDepthwiseStrideAttr, 1);
  if (stride < 1) {
    return Status::InvalidArgument("attribute depthwise_stride is " + std::to_string(stride) + ", expected >= 1");
  }
  // Checks the depthwise activation now (its group and window do not matter to that).
  KILN_RETURN_IF_ERROR(parse_blocked_conv_activation(stem_depthwise_depthwise_node(b.node, 1, 1)).status());
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> stem, build_reference_of(stem_depthwise_stem_node(b.node), 1));
  return std::unique_ptr<Kernel>(std::make_unique<BlockedStemDepthwiseReference>(b.node, std::move(stem)));
}

}  // namespace

KILN_REGISTER_KERNEL("kiln", "BlockedStemDepthwise", 1, 1, make_blocked_stem_depthwise);

}  // namespace kiln::ref
