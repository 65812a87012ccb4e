// kiln.ReorderToBlocked and kiln.ReorderFromBlocked: the borders of a region of the graph that keeps
// activations in the blocked channel layout (kernels/blocked_layout.h). The pass
// convert_to_blocked_layout inserts them; they run once per region border, so plain loops suffice.
//
//   ReorderToBlocked(X: float32 [N, C, spatial...]) -> [N, ceil(C/16), spatial..., 16]
//   ReorderFromBlocked(X: float32 [N, Cb, spatial..., 16]; channels: int C) -> [N, C, spatial...]
#include <string>

#include "kernels/blocked_layout.h"
#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

Status reorder_to_blocked(KernelContext& ctx) {
  const Tensor& x = ctx.tensor(0);
  if (!x.defined() || x.dtype() != DataType::kFloat32) return Status::InvalidArgument("input X must be float32");
  if (x.rank() < 3) return Status::InvalidArgument("input X has rank " + std::to_string(x.rank()) + ", expected >= 3");
  ctx.set_output(0, Value(to_blocked(x)));
  return Status::OK();
}

class ReorderFromBlockedKernel : public Kernel {
 public:
  explicit ReorderFromBlockedKernel(int64_t channels) : channels_(channels) {}

  Status run(KernelContext& ctx) const override {
    const Tensor& x = ctx.tensor(0);
    if (!x.defined() || x.dtype() != DataType::kFloat32) return Status::InvalidArgument("input X must be float32");
    if (x.rank() < 4 || x.shape().back() != kChannelBlock) {
      return Status::InvalidArgument("input X has shape " + shape_to_string(x.shape()) +
                                     ", expected a blocked [N, Cb, spatial..., 16]");
    }
    if (x.dim(1) != channel_blocks(channels_)) {
      return Status::InvalidArgument("input X has " + std::to_string(x.dim(1)) + " channel blocks, " +
                                     std::to_string(channels_) + " channels need " +
                                     std::to_string(channel_blocks(channels_)));
    }
    ctx.set_output(0, Value(from_blocked(x, channels_)));
    return Status::OK();
  }

 private:
  int64_t channels_;
};

Expected<std::unique_ptr<Kernel>> make_reorder_from_blocked(const KernelBuildContext& b) {
  const int64_t channels = b.node.attr_int("channels", 0);
  if (channels < 1) return Status::InvalidArgument("attribute channels must be >= 1");
  return std::unique_ptr<Kernel>(std::make_unique<ReorderFromBlockedKernel>(channels));
}

}  // namespace

KILN_REGISTER_KERNEL("kiln", "ReorderToBlocked", 1, 1, stateless(reorder_to_blocked));
KILN_REGISTER_KERNEL("kiln", "ReorderFromBlocked", 1, 1, make_reorder_from_blocked);

}  // namespace kiln::ref
