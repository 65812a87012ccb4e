#include "kernels/kernel.h"

#include <new>
#include <stdexcept>

#include <limits>

namespace kiln {

const Value& KernelContext::input(size_t i) const {
  static const Value kNone;
  return has_input(i) ? *inputs_[i] : kNone;
}

Tensor KernelContext::output0_tensor(DataType dtype, const Shape& shape) {
  if (destination_ != nullptr && destination_->dtype() == dtype && destination_->shape() == shape) {
    Tensor t = std::move(*destination_);
    destination_ = nullptr;
    return t;
  }
  return Tensor(dtype, shape, Tensor::Init::kUninitialized);
}

const Tensor& KernelContext::tensor(size_t i) const {
  static const Tensor kUndefined;
  if (!has_input(i) || !inputs_[i]->is_tensor()) return kUndefined;
  return inputs_[i]->tensor();
}

Status run_kernel(const Kernel& kernel, KernelContext& ctx) {
  try {
    return kernel.run(ctx);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("unexpected exception: ") + e.what());
  }
}

KernelRegistry& KernelRegistry::global() {
  static KernelRegistry* registry = new KernelRegistry();  // never destroyed: used by static initializers
  return *registry;
}

bool KernelRegistry::add(KernelRegistration registration) {
  entries_.push_back(std::move(registration));
  return true;
}

const KernelRegistration* KernelRegistry::find(std::string_view domain, std::string_view op_type,
                                               int64_t opset) const {
  return find_below(domain, op_type, opset, std::numeric_limits<int>::max());
}

const KernelRegistration* KernelRegistry::find_below(std::string_view domain, std::string_view op_type,
                                                     int64_t opset, int priority) const {
  const KernelRegistration* best = nullptr;
  for (const KernelRegistration& r : entries_) {
    if (r.op_type != op_type || r.domain != domain) continue;
    if (opset < r.since_opset || opset > r.until_opset || r.priority >= priority) continue;
    if (!best || r.priority > best->priority) best = &r;
  }
  return best;
}

bool KernelRegistry::knows(std::string_view domain, std::string_view op_type) const {
  for (const KernelRegistration& r : entries_) {
    if (r.op_type == op_type && r.domain == domain) return true;
  }
  return false;
}

Expected<std::unique_ptr<Kernel>> build_best_kernel(const ir::Node& node, int64_t opset,
                                                    const std::vector<const Tensor*>& constants) {
  const KernelRegistration* reg = KernelRegistry::global().find(node.domain, node.op_type, opset);
  if (reg == nullptr) return Status::Unimplemented("no kernel for " + node.op_type);
  KernelBuildContext b{node, opset, nullptr};
  b.constant_input = [&constants](size_t i) { return i < constants.size() ? constants[i] : nullptr; };
  return reg->factory(b);
}

}  // namespace kiln
