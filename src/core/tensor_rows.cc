#include "core/tensor_rows.h"

#include <cstring>
#include <string>

namespace kiln {

namespace {

// Copies `count` elements starting at element `src_offset` of src into dst at element `dst_offset`.
void copy_elements(const Tensor& src, int64_t src_offset, Tensor* dst, int64_t dst_offset, int64_t count) {
  if (count == 0) return;
  if (src.dtype() == DataType::kString) {
    const std::string* s = src.data<std::string>() + src_offset;
    std::string* d = dst->data<std::string>() + dst_offset;
    for (int64_t i = 0; i < count; ++i) d[i] = s[i];
    return;
  }
  const size_t esize = data_type_size(src.dtype());
  std::memcpy(static_cast<char*>(dst->raw()) + dst_offset * esize,
              static_cast<const char*>(src.raw()) + src_offset * esize, static_cast<size_t>(count) * esize);
}

}  // namespace

Expected<Tensor> slice_rows(const Tensor& t, int64_t first, int64_t count) {
  Shape shape = t.shape();
  shape[0] = count;
  KILN_ASSIGN_OR_RETURN(Tensor part, Tensor::make(t.dtype(), shape, Tensor::Init::kUninitialized));
  const int64_t row = t.dim(0) > 0 ? t.size() / t.dim(0) : 0;
  copy_elements(t, first * row, &part, 0, count * row);
  return part;
}

Expected<Tensor> concat_rows(const std::vector<const Tensor*>& parts) {
  const Tensor& t0 = *parts[0];
  Shape shape = t0.shape();
  shape[0] = 0;
  for (const Tensor* p : parts) shape[0] += p->dim(0);
  KILN_ASSIGN_OR_RETURN(Tensor all, Tensor::make(t0.dtype(), shape, Tensor::Init::kUninitialized));
  int64_t offset = 0;
  for (const Tensor* p : parts) {
    copy_elements(*p, 0, &all, offset, p->size());
    offset += p->size();
  }
  return all;
}

}  // namespace kiln
