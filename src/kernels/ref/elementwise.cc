#include "kernels/ref/elementwise.h"

namespace kiln::ref {

Expected<BroadcastLoop> BroadcastLoop::make(const std::vector<Shape>& inputs) {
  KILN_ASSIGN_OR_RETURN(Shape out, broadcast_shapes(inputs));
  // Small inputs can broadcast to an enormous output; refuse before any element count overflows.
  uint64_t count = 1;
  for (int64_t d : out) {
    if (d != 0 && count > Tensor::kMaxBytes / static_cast<uint64_t>(d)) {
      return Status::ResourceExhausted("broadcast output " + shape_to_string(out) + " is too large");
    }
    count *= static_cast<uint64_t>(d);
  }
  BroadcastLoop loop;
  loop.out_shape_ = std::move(out);
  loop.out_size_ = shape_size(loop.out_shape_);
  loop.coalesce(inputs);
  return loop;
}

Expected<BroadcastLoop> BroadcastLoop::make_onto(const Shape& target, const std::vector<Shape>& inputs) {
  std::vector<Shape> all = inputs;
  all.push_back(target);
  KILN_ASSIGN_OR_RETURN(Shape out, broadcast_shapes(all));
  if (out != target) {
    std::string msg = "cannot broadcast";
    for (const Shape& s : inputs) msg += " " + shape_to_string(s);
    return Status::InvalidArgument(msg + " onto " + shape_to_string(target));
  }
  // The target joins as a phantom input (it spans every dimension, so it never blocks a merge) and
  // its strides are dropped; this keeps the loop over the whole target when the inputs are smaller.
  KILN_ASSIGN_OR_RETURN(BroadcastLoop loop, make(all));
  loop.in_strides_.pop_back();
  return loop;
}

void BroadcastLoop::coalesce(const std::vector<Shape>& inputs) {
  const size_t rank = out_shape_.size();
  const size_t n = inputs.size();
  // full[k][d]: input k spans output dimension d (as opposed to being broadcast along it).
  std::vector<std::vector<bool>> full(n);
  std::vector<int64_t> kept;  // output dimensions of size != 1
  for (size_t d = 0; d < rank; ++d) {
    if (out_shape_[d] != 1) kept.push_back(static_cast<int64_t>(d));
  }
  for (size_t k = 0; k < n; ++k) {
    const Shape& s = inputs[k];
    const size_t pad = rank - s.size();
    for (int64_t d : kept) {
      const size_t ud = static_cast<size_t>(d);
      full[k].push_back(ud >= pad && s[ud - pad] != 1);
    }
  }
  // Merge runs of kept dimensions with identical flags across all inputs.
  std::vector<std::vector<bool>> merged_full(n);
  for (size_t i = 0; i < kept.size(); ++i) {
    bool same = !dims_.empty();
    for (size_t k = 0; k < n && same; ++k) same = full[k][i] == merged_full[k].back();
    if (same) {
      dims_.back() *= out_shape_[static_cast<size_t>(kept[i])];
    } else {
      dims_.push_back(out_shape_[static_cast<size_t>(kept[i])]);
      for (size_t k = 0; k < n; ++k) merged_full[k].push_back(full[k][i]);
    }
  }
  in_strides_.assign(n, std::vector<int64_t>(dims_.size(), 0));
  for (size_t k = 0; k < n; ++k) {
    int64_t stride = 1;
    for (size_t d = dims_.size(); d-- > 0;) {
      if (merged_full[k][d]) {
        in_strides_[k][d] = stride;
        stride *= dims_[d];
      }
    }
  }
}

Expected<Shape> LegacyBroadcast::align_b(const Shape& a, const Shape& b) const {
  if (!active || a == b) return b;
  if (!broadcast) {
    return Status::InvalidArgument("shapes " + shape_to_string(a) + " and " + shape_to_string(b) +
                                   " differ and the broadcast attribute is not set");
  }
  if (shape_size(b) == 1) return Shape{};
  const int64_t ra = static_cast<int64_t>(a.size());
  const int64_t rb = static_cast<int64_t>(b.size());
  int64_t start = ra - rb;
  if (has_axis) start = axis < 0 ? axis + ra : axis;
  bool ok = start >= 0 && rb <= ra && start + rb <= ra;
  // The spec says B's dims must equal A's, but exporters (PyTorch's) also rely on 1s expanding.
  for (int64_t i = 0; ok && i < rb; ++i) {
    const int64_t d = b[static_cast<size_t>(i)];
    ok = d == a[static_cast<size_t>(start + i)] || d == 1;
  }
  if (!ok) {
    return Status::InvalidArgument("shape " + shape_to_string(b) + " cannot be broadcast onto " +
                                   shape_to_string(a) + " at axis " + std::to_string(start));
  }
  Shape aligned = b;
  aligned.resize(static_cast<size_t>(ra - start), 1);  // trailing 1s; numpy pads the leading ones
  return aligned;
}

Expected<BroadcastLoop> prepare_binary(const Tensor& a, const Tensor& b, const LegacyBroadcast& legacy,
                                       Tensor* b_view) {
  KILN_ASSIGN_OR_RETURN(Shape b_shape, legacy.align_b(a.shape(), b.shape()));
  *b_view = b_shape == b.shape() ? b : b.reshaped(b_shape);
  if (legacy.active) return BroadcastLoop::make_onto(a.shape(), {a.shape(), b_shape});
  return BroadcastLoop::make({a.shape(), b_shape});
}

Status require_same_types(const KernelContext& ctx, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    if (i > 0 && ctx.tensor(i).dtype() != ctx.tensor(0).dtype()) {
      return Status::InvalidArgument("input " + std::to_string(i) + " has type " +
                                     std::string(data_type_name(ctx.tensor(i).dtype())) + ", input 0 has " +
                                     std::string(data_type_name(ctx.tensor(0).dtype())));
    }
  }
  return Status::OK();
}

}  // namespace kiln::ref
