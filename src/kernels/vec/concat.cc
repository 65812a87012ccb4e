// Float32 Concat without the reference's zero fill: every output element is one input's copy, so the
// output starts uninitialized and each input's rows go over with memcpy. SqueezeNet joins its expand
// branches this way at every fire module (channel Concat of blocked tensors: whole contiguous blocks).
// Other data types, and inputs the reference rejects, go to the reference kernel.
#include <cstring>

#include "kernels/vec/reference_fallback.h"

namespace kiln::vec {
namespace {

class VecConcatKernel : public Kernel {
 public:
  VecConcatKernel(std::unique_ptr<Kernel> reference, int64_t axis) : reference_(std::move(reference)), axis_(axis) {}

  Status run(KernelContext& ctx) const override {
    if (ctx.num_inputs() == 0) return reference_->run(ctx);
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      if (!is_float32_tensor(ctx, i)) return reference_->run(ctx);
    }
    const Tensor& first = ctx.tensor(0);
    const int64_t r = first.rank();
    const int64_t axis = axis_ < 0 ? axis_ + r : axis_;
    if (r == 0 || axis < 0 || axis >= r) return reference_->run(ctx);
    Shape out_shape = first.shape();
    out_shape[static_cast<size_t>(axis)] = 0;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& t = ctx.tensor(i);
      if (t.rank() != r) return reference_->run(ctx);
      for (int64_t d = 0; d < r; ++d) {
        if (d != axis && t.dim(d) != first.dim(d)) return reference_->run(ctx);  // the reference names it
      }
      out_shape[static_cast<size_t>(axis)] += t.dim(axis);
    }
    Tensor out(DataType::kFloat32, out_shape, Tensor::Init::kUninitialized);
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= out_shape[static_cast<size_t>(d)];
    for (int64_t d = axis + 1; d < r; ++d) inner *= out_shape[static_cast<size_t>(d)];
    const int64_t out_row = out_shape[static_cast<size_t>(axis)] * inner;
    float* dst = out.data<float>();
    int64_t offset = 0;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& t = ctx.tensor(i);
      const int64_t row = t.dim(axis) * inner;
      const float* src = t.data<float>();
      for (int64_t o = 0; o < outer; ++o) {
        std::memcpy(dst + o * out_row + offset, src + o * row, static_cast<size_t>(row) * sizeof(float));
      }
      offset += row;
    }
    ctx.set_output(0, Value(std::move(out)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> reference_;
  int64_t axis_;
};

Expected<std::unique_ptr<Kernel>> make_concat(const KernelBuildContext& b) {
  // The reference factory rejects a missing axis (opset 4 on); its default of 1 holds before that.
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  return std::unique_ptr<Kernel>(std::make_unique<VecConcatKernel>(std::move(reference), b.node.attr_int("axis", 1)));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("", "Concat", 1, kMaxOpset, kVecPriority, make_concat);

}  // namespace kiln::vec
