#include "kernels/ref/movement_util.h"

#include <algorithm>

namespace kiln::ref {

namespace {

template <typename U>
void copy_strided_typed(const U* src, int64_t base, const std::vector<int64_t>& strides, const Shape& shape, U* dst) {
  const size_t rank = shape.size();
  const int64_t total = shape_size(shape);
  if (total == 0) return;
  if (rank == 0) {
    dst[0] = src[base];
    return;
  }
  // Walk all but the innermost dimension with an index vector; the innermost runs as a tight loop.
  const int64_t inner = shape[rank - 1];
  const int64_t inner_stride = strides[rank - 1];
  std::vector<int64_t> index(rank, 0);
  int64_t offset = base;
  for (int64_t done = 0; done < total; done += inner) {
    if (inner_stride == 1) {
      std::copy(src + offset, src + offset + inner, dst);
    } else {
      for (int64_t i = 0; i < inner; ++i) dst[i] = src[offset + i * inner_stride];
    }
    dst += inner;
    for (size_t d = rank - 1; d-- > 0;) {
      ++index[d];
      offset += strides[d];
      if (index[d] < shape[d]) break;
      offset -= strides[d] * index[d];
      index[d] = 0;
    }
  }
}

}  // namespace

void copy_strided(const Tensor& in, int64_t base, const std::vector<int64_t>& in_strides, Tensor& out) {
  (void)visit_storage(in.dtype(), [&](auto tag) {
    using U = typename decltype(tag)::type;
    copy_strided_typed(in.data<U>(), base, in_strides, out.shape(), out.data<U>());
    return Status::OK();
  });
}

Expected<Tensor> transpose_tensor(const Tensor& in, const std::vector<int64_t>& perm) {
  const std::vector<int64_t> in_strides = strides_of(in.shape());
  Shape out_shape(perm.size());
  std::vector<int64_t> strides(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) {
    out_shape[d] = in.dim(perm[d]);
    strides[d] = in_strides[static_cast<size_t>(perm[d])];
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, make_output(in.dtype(), out_shape));
  copy_strided(in, 0, strides, out);
  return out;
}

Expected<int64_t> element_count(const Shape& shape) {
  const std::optional<int64_t> n = kiln::checked_shape_size(shape);
  if (!n) return Status::InvalidArgument("shape " + shape_to_string(shape) + " has a negative dimension or too many elements");
  return *n;
}

Status check_output_size(DataType dtype, const Shape& shape) {
  KILN_ASSIGN_OR_RETURN(const int64_t n, element_count(shape));
  const uint64_t elem = dtype == DataType::kString ? sizeof(std::string) : std::max<size_t>(1, data_type_size(dtype));
  if (static_cast<uint64_t>(n) > Tensor::kMaxBytes / elem) {
    return Status::ResourceExhausted("tensor of shape " + shape_to_string(shape) + " is too large");
  }
  return Status::OK();
}

Expected<std::vector<int64_t>> normalize_axes(const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t n, normalize_axis(a, rank));
    if (rank == 0) return Status::InvalidArgument("axis " + std::to_string(a) + " is out of range for rank 0");
    if (seen[static_cast<size_t>(n)]) return Status::InvalidArgument("axis " + std::to_string(a) + " is repeated");
    seen[static_cast<size_t>(n)] = true;
    out.push_back(n);
  }
  return out;
}

}  // namespace kiln::ref
