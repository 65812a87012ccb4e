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

Status run_counted_reference(const Kernel& reference, KernelContext& ctx,
                             const std::vector<std::pair<size_t, const Value*>>& released) {
  std::vector<const Value*> inputs;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) inputs.push_back(ctx.has_input(i) ? &ctx.input(i) : nullptr);
  for (const auto& [i, value] : released) {
    if (i < inputs.size() && !ctx.tensor(i).defined()) inputs[i] = value;
  }
  std::vector<Value> outputs(ctx.num_outputs());
  KernelContext with_weights(inputs, &outputs, ctx.frame());
  KILN_RETURN_IF_ERROR(run_counted_reference(reference, with_weights));
  for (size_t i = 0; i < outputs.size(); ++i) ctx.set_output(i, std::move(outputs[i]));
  return Status::OK();
}

bool is_float32_tensor(const KernelContext& ctx, size_t i) {
  return ctx.has_input(i) && ctx.input(i).is_tensor() && ctx.tensor(i).dtype() == DataType::kFloat32;
}

}  // namespace kiln::vec
