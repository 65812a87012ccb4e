#include "kernels/ref/common.h"

#include <algorithm>

namespace kiln::ref {

Expected<Shape> broadcast_shapes(const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const Shape& s : shapes) {
    const size_t pad = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[pad + i];
      const int64_t d = s[i];
      if (d == o || d == 1) continue;
      if (o == 1) {
        o = d;
        continue;
      }
      std::string msg = "shapes cannot be broadcast together:";
      for (const Shape& t : shapes) {
        msg += ' ';
        msg += shape_to_string(t);
      }
      return Status::InvalidArgument(msg);
    }
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& shape, size_t out_rank) {
  std::vector<int64_t> strides(out_rank, 0);
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    const size_t o = out_rank - shape.size() + i;
    strides[o] = shape[i] == 1 ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}

BroadcastIterator::BroadcastIterator(const Shape& out_shape, const std::vector<Shape>& in_shapes)
    : out_shape_(out_shape), index_(out_shape.size(), 0), offsets_(in_shapes.size(), 0) {
  for (const Shape& s : in_shapes) strides_.push_back(broadcast_strides(s, out_shape.size()));
}

void BroadcastIterator::next() {
  for (size_t d = out_shape_.size(); d-- > 0;) {
    ++index_[d];
    for (size_t k = 0; k < offsets_.size(); ++k) offsets_[k] += strides_[k][d];
    if (index_[d] < out_shape_[d]) return;
    for (size_t k = 0; k < offsets_.size(); ++k) offsets_[k] -= strides_[k][d] * index_[d];
    index_[d] = 0;
  }
}

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

Expected<int64_t> normalize_axis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank || (rank == 0 && axis != 0 && axis != -1)) {
    return Status::InvalidArgument("axis " + std::to_string(axis) + " is out of range for rank " +
                                   std::to_string(rank));
  }
  return axis < 0 ? axis + rank : axis;
}

Expected<std::vector<int64_t>> read_int_values(const Tensor& t, const char* what) {
  if (!t.defined()) return Status::InvalidArgument(std::string(what) + " is missing");
  std::vector<int64_t> v(static_cast<size_t>(t.size()));
  if (t.dtype() == DataType::kInt64) {
    std::copy(t.data<int64_t>(), t.data<int64_t>() + t.size(), v.begin());
  } else if (t.dtype() == DataType::kInt32) {
    std::copy(t.data<int32_t>(), t.data<int32_t>() + t.size(), v.begin());
  } else {
    return Status::InvalidArgument(std::string(what) + " must be int32 or int64, got " +
                                   std::string(data_type_name(t.dtype())));
  }
  return v;
}

Expected<std::vector<int64_t>> read_int_list(const Tensor& t, const char* what) {
  if (t.defined() && t.rank() > 1) {
    return Status::InvalidArgument(std::string(what) + " must be 1-D, got shape " + shape_to_string(t.shape()));
  }
  return read_int_values(t, what);
}

Expected<double> read_scalar(const Tensor& t, const char* what) {
  if (!t.defined()) return Status::InvalidArgument(std::string(what) + " is missing");
  if (t.size() != 1) return Status::InvalidArgument(std::string(what) + " must hold one element, got shape " + shape_to_string(t.shape()));
  double out = 0;
  Status st = visit_type(NumericTypes{}, t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    out = static_cast<double>(static_cast<ComputeType<T>>(t.data<T>()[0]));
    return Status::OK();
  });
  if (!st.ok()) return st.with_context(what);
  return out;
}

Status require_tensor(const KernelContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return Status::InvalidArgument("input " + std::to_string(i) + " is required");
  if (!ctx.input(i).is_tensor()) return Status::InvalidArgument("input " + std::to_string(i) + " must be a tensor");
  return Status::OK();
}

Expected<std::unique_ptr<Kernel>> build_reference_of(const ir::Node& node, int64_t opset) {
  const KernelRegistration* reg = KernelRegistry::global().find_below(node.domain, node.op_type, opset, 1);
  if (reg == nullptr) return Status::Unimplemented("no reference kernel for " + node.op_type);
  return reg->factory(KernelBuildContext{node, opset, nullptr});
}

}  // namespace kiln::ref
