// kiln.BlockedConvDepthwise, the reference (the operator: kernels/blocked_conv_depthwise_attrs.h): the
// reference kiln.BlockedConv of the pointwise convolution, then that of the depthwise one. Slow by
// design: the oracle the oneDNN kernel is tested against.
#include <string>

#include "kernels/blocked_conv_attrs.h"
#include "kernels/blocked_conv_depthwise_attrs.h"
#include "kernels/blocked_conv_depthwise_steps.h"
#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

class BlockedConvDepthwiseReference : public Kernel {
 public:
  BlockedConvDepthwiseReference(ir::Node node, std::unique_ptr<Kernel> pointwise)
      : node_(std::move(node)), pointwise_(std::move(pointwise)) {}

  Status run(KernelContext& ctx) const override {
    for (size_t i : {0, 1, 3}) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    const Tensor& dw = ctx.tensor(3);
    if (dw.rank() != 4 || dw.dim(1) != 1 || !conv_depthwise_kernel_ok(dw.dim(2)) || dw.dim(3) != dw.dim(2)) {
      return Status::InvalidArgument("input DW has shape " + shape_to_string(dw.shape()) +
                                     ", expected [M, 1, 3, 3] or [M, 1, 5, 5]");
    }
    // The depthwise convolution's group and window come from DW, known only now.
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> depthwise,
                          build_reference_of(conv_depthwise_depthwise_node(node_, dw.dim(0), dw.dim(2)), 1));
    return run_conv_then_depthwise(ctx, *pointwise_, ctx.input(1), *depthwise, ctx.input(3));
  }

 private:
  ir::Node node_;
  std::unique_ptr<Kernel> pointwise_;
};

Expected<std::unique_ptr<Kernel>> make_blocked_conv_depthwise(const KernelBuildContext& b) {
  const int64_t stride = b.node.attr_int(kDepthwiseStrideAttr, 1);
  if (stride != 1 && stride != 2) {
    return Status::InvalidArgument("attribute depthwise_stride is " + std::to_string(stride) + ", expected 1 or 2");
  }
  // Checks the depthwise activation now (its group does not matter to that).
  KILN_RETURN_IF_ERROR(parse_blocked_conv_activation(conv_depthwise_depthwise_node(b.node, 1, 3)).status());
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> pointwise,
                        build_reference_of(conv_depthwise_pointwise_node(b.node), 1));
  return std::unique_ptr<Kernel>(std::make_unique<BlockedConvDepthwiseReference>(b.node, std::move(pointwise)));
}

}  // namespace

KILN_REGISTER_KERNEL("kiln", "BlockedConvDepthwise", 1, 1, make_blocked_conv_depthwise);

}  // namespace kiln::ref
