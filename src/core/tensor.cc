#include "kiln/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

namespace kiln {

int64_t shape_size(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d < 0 ? 0 : d;
  return n;
}

std::string shape_to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Owns the elements. Numeric data is aligned for vector loads; strings are real objects.
struct Tensor::Storage {
  void* numeric = nullptr;
  std::vector<std::string> strings;
  ~Storage() { std::free(numeric); }
};

Tensor::Tensor(DataType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  size_ = shape_size(shape_);
  storage_ = std::make_shared<Storage>();
  if (dtype_ == DataType::kString) {
    storage_->strings.resize(static_cast<size_t>(size_));
    data_ = storage_->strings.data();
    return;
  }
  const size_t bytes = static_cast<size_t>(size_) * data_type_size(dtype_);
  const size_t rounded = (bytes + 63) / 64 * 64;
  storage_->numeric = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (storage_->numeric == nullptr) throw std::bad_alloc();
  std::memset(storage_->numeric, 0, rounded == 0 ? 64 : rounded);
  data_ = storage_->numeric;
}

Expected<Tensor> Tensor::make(DataType dtype, Shape shape) {
  if (dtype == DataType::kUndefined) return Status::InvalidArgument("tensor has undefined data type");
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return Status::InvalidArgument("negative dimension in shape " + shape_to_string(shape));
    if (d != 0 && n > kMaxBytes / static_cast<uint64_t>(d)) {
      return Status::ResourceExhausted("tensor of shape " + shape_to_string(shape) + " is too large");
    }
    n *= static_cast<uint64_t>(d);
  }
  const uint64_t elem = dtype == DataType::kString ? sizeof(std::string) : data_type_size(dtype);
  if (n > kMaxBytes / (elem == 0 ? 1 : elem)) {
    return Status::ResourceExhausted("tensor of shape " + shape_to_string(shape) + " is too large");
  }
  return Tensor(dtype, std::move(shape));
}

Tensor Tensor::reshaped(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return Tensor();
  Tensor t(dtype_, shape_);
  if (dtype_ == DataType::kString) {
    const auto* src = data<std::string>();
    auto* dst = t.data<std::string>();
    for (int64_t i = 0; i < size_; ++i) dst[i] = src[i];
  } else if (bytes() > 0) {
    std::memcpy(t.data_, data_, bytes());
  }
  return t;
}

}  // namespace kiln
