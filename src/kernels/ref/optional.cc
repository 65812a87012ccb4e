// Optional operators (opset 15+). kiln represents an optional by its content: a tensor or sequence
// when it holds one, a kNone Value when empty, so wrapping and unwrapping move no data.
#include <string>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

// Optional(x) holds x; Optional() with only the `type` attribute is empty.
Status optional_construct(KernelContext& ctx) {
  ctx.set_output(0, ctx.has_input(0) ? ctx.input(0) : Value());
  return Status::OK();
}

// An omitted input (allowed from opset 18) reads as an empty optional.
Status optional_has_element(KernelContext& ctx) {
  const bool has = ctx.has_input(0) && !ctx.input(0).is_none();
  ctx.set_output(0, Value(Tensor::scalar<bool>(has)));
  return Status::OK();
}

Status optional_get_element(KernelContext& ctx) {
  if (!ctx.has_input(0) || ctx.input(0).is_none()) {
    return Status::InvalidArgument("the optional input is empty; there is no element to get");
  }
  ctx.set_output(0, ctx.input(0));
  return Status::OK();
}

}  // namespace

KILN_REGISTER_KERNEL("", "Optional", 15, kMaxOpset, stateless(optional_construct));
KILN_REGISTER_KERNEL("", "OptionalHasElement", 15, kMaxOpset, stateless(optional_has_element));
KILN_REGISTER_KERNEL("", "OptionalGetElement", 15, kMaxOpset, stateless(optional_get_element));

}  // namespace kiln::ref
