// kiln.BlockedConvDepthwise and kiln.BlockedStemDepthwise run as the two kiln.BlockedConv kernels they
// stand for, one after the other (blocked_conv_depthwise_attrs.h, blocked_stem_depthwise_attrs.h): how
// their reference kernels compute them, and their fast kernels for shapes they do not take.
#pragma once

#include <vector>

#include "kernels/kernel.h"

namespace kiln {

// `conv` reads X (input 0) with weights `w` and bias B (input 2); `depthwise` reads its result with
// weights `dw` and bias DB (input 4). The fused node's output is the depthwise kernel's.
inline Status run_conv_then_depthwise(KernelContext& ctx, const Kernel& conv, const Value& w, const Kernel& depthwise,
                                      const Value& dw) {
  auto optional = [&ctx](size_t i) { return ctx.has_input(i) ? &ctx.input(i) : nullptr; };
  std::vector<Value> mid(1), out(1);
  std::vector<const Value*> conv_in{&ctx.input(0), &w, optional(2)};
  KernelContext conv_ctx(conv_in, &mid, ctx.frame());
  KILN_RETURN_IF_ERROR(conv.run(conv_ctx));
  std::vector<const Value*> depthwise_in{&mid[0], &dw, optional(4)};
  KernelContext depthwise_ctx(depthwise_in, &out, ctx.frame());
  KILN_RETURN_IF_ERROR(depthwise.run(depthwise_ctx));
  ctx.set_output(0, std::move(out[0]));
  return Status::OK();
}

}  // namespace kiln
