// Transpose, and DepthToSpace / SpaceToDepth, which are a reshape, a transpose and a reshape.
#include "kernels/ref/movement_util.h"

namespace kiln::ref {
namespace {

class TransposeKernel : public Kernel {
 public:
  TransposeKernel(bool has_perm, std::vector<int64_t> perm) : has_perm_(has_perm), perm_(std::move(perm)) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    const int64_t r = x.rank();
    std::vector<int64_t> perm = perm_;
    if (!has_perm_) {
      perm.resize(static_cast<size_t>(r));
      for (int64_t i = 0; i < r; ++i) perm[static_cast<size_t>(i)] = r - 1 - i;
    }
    if (static_cast<int64_t>(perm.size()) != r) {
      return Status::InvalidArgument("perm has " + std::to_string(perm.size()) + " entries for an input of rank " +
                                     std::to_string(r));
    }
    std::vector<bool> seen(static_cast<size_t>(r), false);
    for (int64_t& p : perm) {
      if (p < 0) p += r;  // not in the spec, but harmless and what ONNX Runtime accepts
      if (p < 0 || p >= r || seen[static_cast<size_t>(p)]) {
        return Status::InvalidArgument("perm " + shape_to_string(perm_) + " is not a permutation of rank " + std::to_string(r));
      }
      seen[static_cast<size_t>(p)] = true;
    }
    KILN_ASSIGN_OR_RETURN(Tensor out, transpose_tensor(x, perm));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  }

 private:
  bool has_perm_;
  std::vector<int64_t> perm_;
};

Expected<std::unique_ptr<Kernel>> make_transpose(const KernelBuildContext& b) {
  return std::unique_ptr<Kernel>(
      std::make_unique<TransposeKernel>(b.node.has_attr("perm"), b.node.attr_ints("perm")));
}

// DepthToSpace (DCR or CRD) and SpaceToDepth, as a 6-D view, a transpose and a 4-D view.
class BlockKernel : public Kernel {
 public:
  enum class Kind { kDepthToSpaceDCR, kDepthToSpaceCRD, kSpaceToDepth };
  BlockKernel(Kind kind, int64_t block) : kind_(kind), block_(block) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (x.rank() != 4) return Status::InvalidArgument("input must be 4-D, got shape " + shape_to_string(x.shape()));
    const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), bs = block_;
    Shape view, out_shape;
    std::vector<int64_t> perm;
    if (kind_ == Kind::kSpaceToDepth) {
      if (h % bs != 0 || w % bs != 0) {
        return Status::InvalidArgument("height and width of " + shape_to_string(x.shape()) +
                                       " must be multiples of blocksize " + std::to_string(bs));
      }
      view = {n, c, h / bs, bs, w / bs, bs};
      perm = {0, 3, 5, 1, 2, 4};
      out_shape = {n, c * bs * bs, h / bs, w / bs};
    } else {
      if (c % (bs * bs) != 0) {
        return Status::InvalidArgument("channels of " + shape_to_string(x.shape()) +
                                       " must be a multiple of blocksize squared (" + std::to_string(bs * bs) + ")");
      }
      const int64_t oc = c / (bs * bs);
      if (kind_ == Kind::kDepthToSpaceDCR) {
        view = {n, bs, bs, oc, h, w};
        perm = {0, 3, 4, 1, 5, 2};
      } else {
        view = {n, oc, bs, bs, h, w};
        perm = {0, 1, 4, 2, 5, 3};
      }
      out_shape = {n, oc, h * bs, w * bs};
    }
    KILN_ASSIGN_OR_RETURN(Tensor out, transpose_tensor(x.reshaped(view), perm));
    ctx.set_output(0, out.reshaped(out_shape));
    return Status::OK();
  }

 private:
  Kind kind_;
  int64_t block_;
};

Expected<int64_t> read_blocksize(const ir::Node& n) {
  const int64_t bs = n.attr_int("blocksize", 0);
  if (bs <= 0 || bs > (int64_t{1} << 20)) return Status::InvalidArgument("blocksize must be positive");
  return bs;
}

Expected<std::unique_ptr<Kernel>> make_depth_to_space(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(int64_t bs, read_blocksize(b.node));
  const std::string mode = b.node.attr_string("mode", "DCR");
  BlockKernel::Kind kind;
  if (mode == "DCR") {
    kind = BlockKernel::Kind::kDepthToSpaceDCR;
  } else if (mode == "CRD") {
    kind = BlockKernel::Kind::kDepthToSpaceCRD;
  } else {
    return Status::InvalidArgument("unknown mode '" + mode + "'");
  }
  return std::unique_ptr<Kernel>(std::make_unique<BlockKernel>(kind, bs));
}

Expected<std::unique_ptr<Kernel>> make_space_to_depth(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(int64_t bs, read_blocksize(b.node));
  return std::unique_ptr<Kernel>(std::make_unique<BlockKernel>(BlockKernel::Kind::kSpaceToDepth, bs));
}

}  // namespace

KILN_REGISTER_KERNEL("", "Transpose", 1, kMaxOpset, make_transpose);
KILN_REGISTER_KERNEL("", "DepthToSpace", 1, kMaxOpset, make_depth_to_space);
KILN_REGISTER_KERNEL("", "SpaceToDepth", 1, kMaxOpset, make_space_to_depth);

}  // namespace kiln::ref
