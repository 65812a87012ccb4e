// Identity and Constant: values passed through or produced from attributes.
#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

Status identity(KernelContext& ctx) {
  if (!ctx.has_input(0)) return Status::InvalidArgument("input 0 is required");
  ctx.set_output(0, ctx.input(0));
  return Status::OK();
}

class ConstantKernel : public Kernel {
 public:
  explicit ConstantKernel(Tensor value) : value_(std::move(value)) {}
  Status run(KernelContext& ctx) const override {
    ctx.set_output(0, Value(value_));
    return Status::OK();
  }

 private:
  Tensor value_;
};

Expected<std::unique_ptr<Kernel>> make_constant(const KernelBuildContext& b) {
  const ir::Node& n = b.node;
  Tensor value;
  if (const Tensor* t = n.attr_tensor("value")) {
    value = *t;
  } else if (n.has_attr("value_float")) {
    value = Tensor::scalar<float>(n.attr_float("value_float", 0));
  } else if (n.has_attr("value_int")) {
    value = Tensor::scalar<int64_t>(n.attr_int("value_int", 0));
  } else if (n.has_attr("value_floats")) {
    const auto v = n.attr_floats("value_floats");
    value = Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  } else if (n.has_attr("value_ints")) {
    const auto v = n.attr_ints("value_ints");
    value = Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
  } else if (n.has_attr("value_string")) {
    value = Tensor::scalar<std::string>(n.attr_string("value_string"));
  } else if (n.has_attr("value_strings")) {
    const auto v = n.attr_strings("value_strings");
    value = Tensor::from_vector<std::string>({static_cast<int64_t>(v.size())}, v);
  } else if (n.has_attr("sparse_value")) {
    value = n.find_attr("sparse_value")->t;
  } else {
    return Status::InvalidArgument("Constant has no value attribute");
  }
  return std::unique_ptr<Kernel>(std::make_unique<ConstantKernel>(std::move(value)));
}

}  // namespace

KILN_REGISTER_KERNEL("", "Identity", 1, kMaxOpset, stateless(identity));
KILN_REGISTER_KERNEL("", "Constant", 1, kMaxOpset, make_constant);

}  // namespace kiln::ref
