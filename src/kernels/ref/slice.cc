// Slice: Slice-1 takes starts/ends/axes as attributes; Slice-10+ takes them (and steps) as inputs.
#include <limits>

#include "kernels/ref/movement_util.h"

namespace kiln::ref {
namespace {

Status run_slice(KernelContext& ctx, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
                 const std::vector<int64_t>* axes_in, const std::vector<int64_t>* steps_in) {
  const Tensor& x = ctx.tensor(0);
  const int64_t r = x.rank();
  if (starts.size() != ends.size()) return Status::InvalidArgument("starts and ends must have the same length");
  std::vector<int64_t> axes;
  if (axes_in) {
    if (axes_in->size() != starts.size()) return Status::InvalidArgument("axes must have the length of starts");
    KILN_ASSIGN_OR_RETURN(axes, normalize_axes(*axes_in, r));
  } else {
    if (static_cast<int64_t>(starts.size()) > r) return Status::InvalidArgument("starts has more entries than the input's rank");
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps_in && steps_in->size() != starts.size()) return Status::InvalidArgument("steps must have the length of starts");

  const std::vector<int64_t> in_strides = strides_of(x.shape());
  Shape out_shape = x.shape();
  std::vector<int64_t> strides = in_strides;
  int64_t base = 0;
  for (size_t i = 0; i < axes.size(); ++i) {
    const size_t a = static_cast<size_t>(axes[i]);
    const int64_t dim = x.shape()[a];
    const int64_t step = steps_in ? (*steps_in)[i] : 1;
    if (step == 0) return Status::InvalidArgument("slice step must not be zero");
    int64_t start = starts[i], end = ends[i];
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    int64_t count;
    if (dim == 0) {
      count = 0;  // nothing to select (and the clamp ranges below would be empty)
    } else if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      count = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      count = start > end ? (start - end - 1) / (-step) + 1 : 0;
    }
    out_shape[a] = count;
    if (count > 0) base += start * in_strides[a];
    strides[a] = in_strides[a] * step;
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, make_output(x.dtype(), out_shape));
  if (out.size() > 0) copy_strided(x, base, strides, out);
  ctx.set_output(0, std::move(out));
  return Status::OK();
}

class Slice1Kernel : public Kernel {
 public:
  Slice1Kernel(std::vector<int64_t> starts, std::vector<int64_t> ends, bool has_axes, std::vector<int64_t> axes)
      : starts_(std::move(starts)), ends_(std::move(ends)), has_axes_(has_axes), axes_(std::move(axes)) {}
  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    return run_slice(ctx, starts_, ends_, has_axes_ ? &axes_ : nullptr, nullptr);
  }

 private:
  std::vector<int64_t> starts_, ends_;
  bool has_axes_;
  std::vector<int64_t> axes_;
};

Status slice10(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 2));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> starts, read_int_list(ctx.tensor(1), "starts"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> ends, read_int_list(ctx.tensor(2), "ends"));
  std::vector<int64_t> axes, steps;
  const bool has_axes = ctx.has_input(3), has_steps = ctx.has_input(4);
  if (has_axes) {
    KILN_ASSIGN_OR_RETURN(axes, read_int_list(ctx.tensor(3), "axes"));
  }
  if (has_steps) {
    KILN_ASSIGN_OR_RETURN(steps, read_int_list(ctx.tensor(4), "steps"));
  }
  return run_slice(ctx, starts, ends, has_axes ? &axes : nullptr, has_steps ? &steps : nullptr);
}

Expected<std::unique_ptr<Kernel>> make_slice(const KernelBuildContext& b) {
  if (b.opset >= 10) return std::unique_ptr<Kernel>(std::make_unique<FunctionKernel>(slice10));
  if (!b.node.has_attr("starts") || !b.node.has_attr("ends")) {
    return Status::InvalidArgument("Slice-1 needs the starts and ends attributes");
  }
  return std::unique_ptr<Kernel>(std::make_unique<Slice1Kernel>(b.node.attr_ints("starts"), b.node.attr_ints("ends"),
                                                                b.node.has_attr("axes"), b.node.attr_ints("axes")));
}

}  // namespace

KILN_REGISTER_KERNEL("", "Slice", 1, kMaxOpset, make_slice);

}  // namespace kiln::ref
