// Concat and Split: joining tensors along an axis and cutting one apart.
#include "kernels/ref/movement_util.h"

namespace kiln::ref {
namespace {

// Copies `rows` blocks of `src_block` elements from src into dst, whose blocks are `dst_block` long;
// dst starts at element `dst_offset` (Concat) or src at `src_offset` (Split).
template <typename U>
void copy_blocks(const U* src, int64_t src_block, U* dst, int64_t dst_block, int64_t rows, int64_t block) {
  for (int64_t r = 0; r < rows; ++r) std::copy(src + r * src_block, src + r * src_block + block, dst + r * dst_block);
}

class ConcatKernel : public Kernel {
 public:
  explicit ConcatKernel(int64_t axis) : axis_(axis) {}

  Status run(KernelContext& ctx) const override {
    if (ctx.num_inputs() == 0) return Status::InvalidArgument("Concat needs at least one input");
    for (size_t i = 0; i < ctx.num_inputs(); ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    const Tensor& first = ctx.tensor(0);
    const int64_t r = first.rank();
    if (r == 0) return Status::InvalidArgument("Concat inputs must have rank 1 or more");
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_, r));
    Shape out_shape = first.shape();
    out_shape[static_cast<size_t>(axis)] = 0;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& t = ctx.tensor(i);
      if (t.dtype() != first.dtype()) return Status::InvalidArgument("inputs must share one data type");
      bool ok = t.rank() == r;
      for (int64_t d = 0; ok && d < r; ++d) ok = d == axis || t.dim(d) == first.dim(d);
      if (!ok) {
        return Status::InvalidArgument("input " + std::to_string(i) + " has shape " + shape_to_string(t.shape()) +
                                       ", which does not match " + shape_to_string(first.shape()) + " off axis " +
                                       std::to_string(axis));
      }
      out_shape[static_cast<size_t>(axis)] += t.dim(axis);
    }
    KILN_ASSIGN_OR_RETURN(Tensor out, make_output(first.dtype(), out_shape));
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= out_shape[static_cast<size_t>(d)];
    for (int64_t d = axis + 1; d < r; ++d) inner *= out_shape[static_cast<size_t>(d)];
    const int64_t out_block = out_shape[static_cast<size_t>(axis)] * inner;
    KILN_RETURN_IF_ERROR(visit_storage(first.dtype(), [&](auto tag) {
      using U = typename decltype(tag)::type;
      int64_t offset = 0;
      for (size_t i = 0; i < ctx.num_inputs(); ++i) {
        const Tensor& t = ctx.tensor(i);
        const int64_t block = t.dim(axis) * inner;
        copy_blocks(t.data<U>(), block, out.data<U>() + offset, out_block, outer, block);
        offset += block;
      }
      return Status::OK();
    }));
    ctx.set_output(0, std::move(out));
    return Status::OK();
  }

 private:
  int64_t axis_;
};

Expected<std::unique_ptr<Kernel>> make_concat(const KernelBuildContext& b) {
  if (b.opset >= 4 && !b.node.has_attr("axis")) return Status::InvalidArgument("Concat needs the axis attribute");
  return std::unique_ptr<Kernel>(std::make_unique<ConcatKernel>(b.node.attr_int("axis", 1)));
}

class SplitKernel : public Kernel {
 public:
  // split_attr: the `split` attribute (opset < 13); split_input: whether input 1 may carry the sizes.
  SplitKernel(int64_t axis, std::vector<int64_t> split_attr, bool split_input)
      : axis_(axis), split_attr_(std::move(split_attr)), split_input_(split_input) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (x.rank() == 0) return Status::InvalidArgument("cannot split a scalar");
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_, x.rank()));
    const int64_t dim = x.dim(axis);
    const size_t n_out = ctx.num_outputs();
    std::vector<int64_t> split = split_attr_;
    if (split_input_ && ctx.has_input(1)) {
      KILN_ASSIGN_OR_RETURN(split, read_int_list(ctx.tensor(1), "split"));
    }
    if (split.empty()) {
      if (n_out == 0 || dim % static_cast<int64_t>(n_out) != 0) {
        return Status::InvalidArgument("dimension " + std::to_string(dim) + " cannot be split into " +
                                       std::to_string(n_out) + " equal parts");
      }
      split.assign(n_out, dim / static_cast<int64_t>(n_out));
    }
    if (split.size() != n_out) {
      return Status::InvalidArgument("split has " + std::to_string(split.size()) + " sizes for " +
                                     std::to_string(n_out) + " outputs");
    }
    int64_t total = 0;
    for (int64_t s : split) {
      if (s < 0) return Status::InvalidArgument("split sizes must not be negative");
      if (s > dim - total) {  // would overshoot (checked before adding, so the sum cannot overflow)
        total = -1;
        break;
      }
      total += s;
    }
    if (total != dim) {
      return Status::InvalidArgument("split sizes " + shape_to_string(split) + " do not add up to dimension " +
                                     std::to_string(dim));
    }
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
    for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
    int64_t offset = 0;
    for (size_t i = 0; i < n_out; ++i) {
      Shape shape = x.shape();
      shape[static_cast<size_t>(axis)] = split[i];
      Tensor out(x.dtype(), shape);
      const int64_t block = split[i] * inner;
      KILN_RETURN_IF_ERROR(visit_storage(x.dtype(), [&](auto tag) {
        using U = typename decltype(tag)::type;
        copy_blocks(x.data<U>() + offset, dim * inner, out.data<U>(), block, outer, block);
        return Status::OK();
      }));
      offset += block;
      ctx.set_output(i, std::move(out));
    }
    return Status::OK();
  }

 private:
  int64_t axis_;
  std::vector<int64_t> split_attr_;
  bool split_input_;
};

Expected<std::unique_ptr<Kernel>> make_split(const KernelBuildContext& b) {
  const int64_t axis = b.node.attr_int("axis", 0);
  if (b.opset >= 13) return std::unique_ptr<Kernel>(std::make_unique<SplitKernel>(axis, std::vector<int64_t>{}, true));
  // Split-1 took the sizes from an attribute or a second input; Split-2..12 from the attribute only.
  return std::unique_ptr<Kernel>(std::make_unique<SplitKernel>(axis, b.node.attr_ints("split"), b.opset < 2));
}

}  // namespace

KILN_REGISTER_KERNEL("", "Concat", 1, kMaxOpset, make_concat);
KILN_REGISTER_KERNEL("", "Split", 1, kMaxOpset, make_split);

}  // namespace kiln::ref
