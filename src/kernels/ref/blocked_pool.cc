// kiln.BlockedMaxPool, kiln.BlockedAveragePool and kiln.BlockedGlobalAveragePool, the reference: the
// ONNX pooling operator of the same name and attributes on a blocked X [N, Cb, spatial..., B]
// (kernels/blocked_layout.h), giving a blocked Y. Pooling treats every channel alike, so the padding
// lanes are pooled like real channels (zeros stay zeros, finite values stay finite). This kernel
// unblocks X to [N, Cb*B, spatial...], runs the ONNX pooling reference and blocks the result (in B).
#include <string>

#include "kernels/blocked_layout.h"
#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

constexpr int64_t kInnerOpset = 12;  // MaxPool and AveragePool with today's attributes

class BlockedPoolReference : public Kernel {
 public:
  explicit BlockedPoolReference(std::unique_ptr<Kernel> pool) : pool_(std::move(pool)) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (x.dtype() != DataType::kFloat32) return Status::InvalidArgument("input X must be float32");
    const int64_t block = channel_block_of(x.shape());
    if (x.rank() < 4 || block < 1) {
      return Status::InvalidArgument("input X has shape " + shape_to_string(x.shape()) +
                                     ", expected a blocked [N, Cb, spatial..., B]");
    }
    const Value plain(from_blocked(x, x.dim(1) * block));
    std::vector<Value> out(1);
    std::vector<const Value*> in{&plain};
    KernelContext inner(in, &out, ctx.frame());
    KILN_RETURN_IF_ERROR(pool_->run(inner));
    ctx.set_output(0, Value(to_blocked(out[0].tensor(), block)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> pool_;
};

// The factory for kiln.Blocked<op>: the reference of ONNX <op> with the node's attributes, wrapped.
KernelFactory blocked_pool_factory(std::string op) {
  return [op](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    ir::Node inner = b.node;
    inner.domain = "";
    inner.op_type = op;
    inner.outputs.resize(1);
    const KernelRegistration* reg = KernelRegistry::global().find_below("", op, kInnerOpset, 1);
    if (reg == nullptr) return Status::Unimplemented("no reference kernel for " + op);
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> pool, reg->factory(KernelBuildContext{inner, kInnerOpset, nullptr}));
    return std::unique_ptr<Kernel>(std::make_unique<BlockedPoolReference>(std::move(pool)));
  };
}

}  // namespace

KILN_REGISTER_KERNEL("kiln", "BlockedMaxPool", 1, 1, blocked_pool_factory("MaxPool"));
KILN_REGISTER_KERNEL("kiln", "BlockedAveragePool", 1, 1, blocked_pool_factory("AveragePool"));
KILN_REGISTER_KERNEL("kiln", "BlockedGlobalAveragePool", 1, 1, blocked_pool_factory("GlobalAveragePool"));

}  // namespace kiln::ref
