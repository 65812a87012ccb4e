#include "kernels/dnnl/packed_weights.h"

#include <algorithm>

#include "kernels/dnnl/common.h"
#include "kernels/dnnl/matmul_primitive.h"
#include "kernels/reference_fallbacks.h"

namespace kiln::dnnl_kernels {

dnnl::memory PackedWeights::in_layout(const dnnl::memory::desc& md) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const OwnedMemory& m : packed_) {
    if (m.memory.get_desc() == md) return m.memory;
  }
  // Once the source is released, the first packed copy is the source.
  dnnl::memory from = released_ ? packed_.front().memory : wrap(plain_, source_.raw());
  OwnedMemory packed = owned_memory(md);
  dnnl::reorder(from, packed.memory).execute(thread_stream(), from, packed.memory);
  thread_stream().wait();
  packed_.push_back(packed);
  return packed.memory;
}

bool PackedWeights::release_source() {
  std::lock_guard<std::mutex> lock(mu_);
  if (packed_.empty()) return false;
  source_ = Tensor();
  released_ = true;
  return true;
}

Tensor PackedWeights::unpack() const {
  Tensor t(DataType::kFloat32, shape_);
  std::lock_guard<std::mutex> lock(mu_);
  dnnl::memory from = released_ ? packed_.front().memory : wrap(plain_, source_.raw());
  dnnl::memory plain = wrap(plain_, t.raw());
  dnnl::reorder(from, plain).execute(thread_stream(), from, plain);
  thread_stream().wait();
  return t;
}

WeightsInput weights_input(const KernelContext& ctx, size_t i, const PackedWeights* packed) {
  if (packed != nullptr && !ctx.tensor(i).defined()) return {&packed->shape(), true};
  if (!all_float32_nonempty(ctx, {i})) return {};
  const Tensor& w = ctx.tensor(i);
  return {&w.shape(), packed != nullptr && packed->stand_for(w)};
}

Status run_reference(const Kernel& reference, KernelContext& ctx, size_t i, const PackedWeights* packed) {
  count_reference_fallback();
  if (packed == nullptr || !packed->released() || ctx.tensor(i).defined()) return reference.run(ctx);
  std::vector<const Value*> inputs(std::max(ctx.num_inputs(), i + 1), nullptr);
  for (size_t k = 0; k < ctx.num_inputs(); ++k) inputs[k] = ctx.has_input(k) ? &ctx.input(k) : nullptr;
  Value weights;
  try {
    weights = Value(packed->unpack());
  } catch (const dnnl::error& e) {
    return Status::Internal(std::string("oneDNN could not unpack constant weights: ") + e.what());
  }
  inputs[i] = &weights;
  std::vector<Value> outputs(ctx.num_outputs());
  KernelContext unpacked(inputs, &outputs, ctx.frame());
  KILN_RETURN_IF_ERROR(reference.run(unpacked));
  for (size_t k = 0; k < outputs.size(); ++k) ctx.set_output(k, std::move(outputs[k]));
  return Status::OK();
}

void prepack(const PackedWeights& packed, int64_t K, int64_t N, bool bias, const dnnl::primitive_attr& attr) {
  try {
    const dnnl::memory::desc biasmd = bias ? plain_desc({1, N}) : dnnl::memory::desc();
    const dnnl::matmul::desc d(plain_desc({1, K}), any_desc({K, N}), biasmd, plain_desc({1, N}));
    packed.in_layout(dnnl::matmul::primitive_desc(d, attr, cpu_engine()).weights_desc());
  } catch (const dnnl::error&) {
    // No implementation for this nominal shape: the first run's shape packs for itself.
  }
}

}  // namespace kiln::dnnl_kernels
