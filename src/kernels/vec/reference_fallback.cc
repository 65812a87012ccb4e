#include "kernels/vec/reference_fallback.h"

#include "kernels/reference_fallbacks.h"

namespace kiln::vec {

Expected<std::unique_ptr<Kernel>> build_reference(const KernelBuildContext& b) {
  const KernelRegistration* reg =
      KernelRegistry::global().find_below(b.node.domain, b.node.op_type, b.opset, kVecPriority);
  if (reg == nullptr) return Status::Unimplemented("no reference kernel for " + b.node.op_type);
  return reg->factory(b);
}

Status run_counted_reference(const Kernel& reference, KernelContext& ctx) {
  count_reference_fallback();
  return reference.run(ctx);
}

bool is_float32_tensor(const KernelContext& ctx, size_t i) {
  return ctx.has_input(i) && ctx.input(i).is_tensor() && ctx.tensor(i).dtype() == DataType::kFloat32;
}

}  // namespace kiln::vec
