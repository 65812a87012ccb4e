// kiln.ReorderToBlocked and kiln.ReorderFromBlocked: the borders of a region of the graph that keeps
// activations in the blocked channel layout (kernels/blocked_layout.h). The pass
// convert_to_blocked_layout inserts them; they run once per region border, so plain loops suffice.
//
//   ReorderToBlocked(X: float32 [N, C, spatial...]; channel_block: int B, default 16)
//       -> [N, ceil(C/B), spatial..., B]
//   ReorderFromBlocked(X: float32 [N, Cb, spatial..., B]; channels: int C) -> [N, C, spatial...]
#include <string>

#include "kernels/blocked_layout.h"
#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

class ReorderToBlockedKernel : public Kernel {
 public:
  explicit ReorderToBlockedKernel(int64_t block) : block_(block) {}

  Status run(KernelContext& ctx) const override {
    const Tensor& x = ctx.tensor(0);
    if (!x.defined() || x.dtype() != DataType::kFloat32) return Status::InvalidArgument("input X must be float32");
    if (x.rank() < 3)
      return Status::InvalidArgument("input X has rank " + std::to_string(x.rank()) + ", expected >= 3");
    ctx.set_output(0, Value(to_blocked(x, block_)));
    return Status::OK();
  }

 private:
  int64_t block_;
};

Expected<std::unique_ptr<Kernel>> make_reorder_to_blocked(const KernelBuildContext& b) {
  const int64_t block = b.node.attr_int(kChannelBlockAttr, kDefaultChannelBlock);
  if (block < 1) return Status::InvalidArgument("attribute channel_block must be >= 1");
  return std::unique_ptr<Kernel>(std::make_unique<ReorderToBlockedKernel>(block));
}

class ReorderFromBlockedKernel : public Kernel {
 public:
  explicit ReorderFromBlockedKernel(int64_t channels) : channels_(channels) {}

  Status run(KernelContext& ctx) const override {
    const Tensor& x = ctx.tensor(0);
    if (!x.defined() || x.dtype() != DataType::kFloat32) return Status::InvalidArgument("input X must be float32");
    const int64_t block = channel_block_of(x.shape());
    if (x.rank() < 4 || block < 1) {
      return Status::InvalidArgument("input X has shape " + shape_to_string(x.shape()) +
                                     ", expected a blocked [N, Cb, spatial..., B]");
    }
    if (x.dim(1) != channel_blocks(channels_, block)) {
      return Status::InvalidArgument("input X has " + std::to_string(x.dim(1)) + " channel blocks of " +
                                     std::to_string(block) + ", " + std::to_string(channels_) + " channels need " +
                                     std::to_string(channel_blocks(channels_, block)));
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

KILN_REGISTER_KERNEL("kiln", "ReorderToBlocked", 1, 1, make_reorder_to_blocked);
KILN_REGISTER_KERNEL("kiln", "ReorderFromBlocked", 1, 1, make_reorder_from_blocked);

}  // namespace kiln::ref
