#include "kernels/ref/stacking.h"

#include <cstring>
#include <string>

namespace kiln::ref {
namespace {

// Copies `count` elements from src[src_off...] to dst[dst_off...]; both share one dtype.
void copy_elements(const Tensor& src, int64_t src_off, Tensor& dst, int64_t dst_off, int64_t count) {
  if (count <= 0) return;
  if (src.dtype() == DataType::kString) {
    const std::string* s = src.data<std::string>() + src_off;
    std::string* d = dst.data<std::string>() + dst_off;
    for (int64_t i = 0; i < count; ++i) d[i] = s[i];
    return;
  }
  const size_t w = data_type_size(src.dtype());
  std::memcpy(static_cast<char*>(dst.raw()) + static_cast<size_t>(dst_off) * w,
              static_cast<const char*>(src.raw()) + static_cast<size_t>(src_off) * w, static_cast<size_t>(count) * w);
}

int64_t product(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

}  // namespace

Tensor narrow_axis(const Tensor& t, int64_t axis, int64_t start, int64_t length) {
  const Shape& in = t.shape();
  const size_t a = static_cast<size_t>(axis);
  Shape out_shape = in;
  out_shape[a] = length;
  Tensor out(t.dtype(), out_shape);
  const int64_t outer = product(in, 0, a);
  const int64_t inner = product(in, a + 1, in.size());
  for (int64_t o = 0; o < outer; ++o) {
    copy_elements(t, (o * in[a] + start) * inner, out, o * length * inner, length * inner);
  }
  return out;
}

Tensor select_axis(const Tensor& t, int64_t axis, int64_t index) {
  Tensor one = narrow_axis(t, axis, index, 1);
  Shape shape = t.shape();
  shape.erase(shape.begin() + axis);
  return one.reshaped(shape);
}

Expected<Tensor> concat_tensors(const std::vector<Tensor>& items, int64_t axis) {
  if (items.empty()) return Status::InvalidArgument("cannot concatenate an empty list of tensors");
  const Tensor& first = items[0];
  const size_t a = static_cast<size_t>(axis);
  if (axis < 0 || axis >= first.rank()) {
    return Status::InvalidArgument("axis " + std::to_string(axis) + " is out of range for rank " +
                                   std::to_string(first.rank()));
  }
  Shape out_shape = first.shape();
  out_shape[a] = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const Tensor& t = items[i];
    if (t.dtype() != first.dtype()) {
      return Status::InvalidArgument("tensor " + std::to_string(i) + " has type " +
                                     std::string(data_type_name(t.dtype())) + ", tensor 0 has " +
                                     std::string(data_type_name(first.dtype())));
    }
    bool same = t.rank() == first.rank();
    for (size_t d = 0; same && d < out_shape.size(); ++d) same = d == a || t.dim(static_cast<int64_t>(d)) == first.dim(static_cast<int64_t>(d));
    if (!same) {
      return Status::InvalidArgument("tensor " + std::to_string(i) + " has shape " + shape_to_string(t.shape()) +
                                     ", which does not match " + shape_to_string(first.shape()) + " except on axis " +
                                     std::to_string(axis));
    }
    out_shape[a] += t.dim(axis);
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::make(first.dtype(), out_shape));
  const int64_t outer = product(out_shape, 0, a);
  const int64_t inner = product(out_shape, a + 1, out_shape.size());
  const int64_t out_row = out_shape[a] * inner;
  int64_t col = 0;  // where the current item starts within an output row
  for (const Tensor& t : items) {
    const int64_t row = t.dim(axis) * inner;
    for (int64_t o = 0; o < outer; ++o) copy_elements(t, o * row, out, o * out_row + col, row);
    col += row;
  }
  return out;
}

Expected<Tensor> stack_tensors(const std::vector<Tensor>& items, int64_t axis) {
  if (items.empty()) return Status::InvalidArgument("cannot stack an empty list of tensors");
  const Shape& shape = items[0].shape();
  if (axis < 0 || axis > items[0].rank()) {
    return Status::InvalidArgument("axis " + std::to_string(axis) + " is out of range for stacking rank " +
                                   std::to_string(items[0].rank()));
  }
  std::vector<Tensor> expanded;
  expanded.reserve(items.size());
  Shape with_axis = shape;
  with_axis.insert(with_axis.begin() + axis, 1);
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].shape() != shape) {
      return Status::InvalidArgument("tensor " + std::to_string(i) + " has shape " +
                                     shape_to_string(items[i].shape()) + ", tensor 0 has " + shape_to_string(shape) +
                                     "; stacked tensors must agree");
    }
    expanded.push_back(items[i].reshaped(with_axis));
  }
  return concat_tensors(expanded, axis);
}

Expected<Tensor> empty_stack(const ir::ValueInfo& decl, int64_t axis) {
  const ir::TypeInfo& type = decl.type;
  if (type.kind != ir::TypeInfo::Kind::kTensor || type.elem_type == DataType::kUndefined) {
    return Status::InvalidArgument("output '" + decl.name + "' was never produced and its type is not declared");
  }
  Shape shape;
  bool known = type.shape.has_value();
  if (known) {
    for (const ir::Dim& d : *type.shape) {
      known = known && d.is_fixed();
      shape.push_back(d.value);
    }
  }
  if (!known || axis < 0 || axis > static_cast<int64_t>(shape.size())) return Tensor::make(type.elem_type, {0});
  shape.insert(shape.begin() + axis, 0);
  return Tensor::make(type.elem_type, shape);
}

}  // namespace kiln::ref
