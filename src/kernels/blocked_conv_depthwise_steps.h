// kiln.BlockedConvDepthwise run as the two kiln.BlockedConv kernels it stands for, one after the
// other (blocked_conv_depthwise_attrs.h): how the reference kernel computes it, and the oneDNN kernel
// for shapes its fused primitive does not take.
#pragma once

#include <vector>

#include "kernels/kernel.h"

namespace kiln {

// `pointwise` reads X (input 0) with weights `w` and bias B (input 2); `depthwise` reads its result
// with weights `dw` and bias DB (input 4). The fused node's output is the depthwise kernel's.
inline Status run_pointwise_then_depthwise(KernelContext& ctx, const Kernel& pointwise, const Value& w,
                                           const Kernel& depthwise, const Value& dw) {
  auto optional = [&ctx](size_t i) { return ctx.has_input(i) ? &ctx.input(i) : nullptr; };
  std::vector<Value> mid(1), out(1);
  std::vector<const Value*> pointwise_in{&ctx.input(0), &w, optional(2)};
  KernelContext pointwise_ctx(pointwise_in, &mid, ctx.frame());
  KILN_RETURN_IF_ERROR(pointwise.run(pointwise_ctx));
  std::vector<const Value*> depthwise_in{&mid[0], &dw, optional(4)};
  KernelContext depthwise_ctx(depthwise_in, &out, ctx.frame());
  KILN_RETURN_IF_ERROR(depthwise.run(depthwise_ctx));
  ctx.set_output(0, std::move(out[0]));
  return Status::OK();
}

}  // namespace kiln
