// Tensor: a typed, shaped, reference-counted block of elements in row-major (C) order.
//
// Copying a Tensor is cheap and shares the elements (like a shared_ptr); use clone() for a deep copy.
// Numeric elements live in one 64-byte aligned, zero-initialized allocation. String elements are
// std::string objects. A Tensor is not synchronized: share it read-only across threads, or copy.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/data_type.h"
#include "kiln/status.h"

namespace kiln {

using Shape = std::vector<int64_t>;

// Number of elements of a shape (1 for a scalar). Negative dims count as 0; an element count past
// int64's range saturates to its maximum.
int64_t shape_size(const Shape& shape);
// Number of elements, or nullopt when a dim is negative or the count overflows int64. A shape with a
// zero dim has 0 elements whatever its other dims.
std::optional<int64_t> checked_shape_size(const Shape& shape);
// "[2, 3, 224, 224]".
std::string shape_to_string(const Shape& shape);

class Tensor {
 public:
  // An empty tensor: dtype kUndefined, no storage. defined() is false.
  Tensor() = default;

  // How a new numeric tensor's elements start. kUninitialized is for fast kernels that overwrite every
  // element (padding lanes included): a pooled block then keeps the last run's bytes, which saves a
  // memset as large as the output (6% of efficientnet_b0 at batch 8). Strings are always constructed.
  enum class Init { kZero, kUninitialized };

  // Allocates a zero-filled tensor (empty strings for kString), or one with unspecified elements for
  // Init::kUninitialized. Fails with ResourceExhausted when the byte count overflows or exceeds the
  // machine's physical memory, and InvalidArgument for a negative dim.
  static Expected<Tensor> make(DataType dtype, Shape shape, Init init = Init::kZero);
  // Like make(), for shapes already validated by the caller (kernels computing their output shape from
  // valid inputs). Throws std::bad_alloc when the memory is not there; the executor turns that into a
  // ResourceExhausted status naming the node.
  Tensor(DataType dtype, Shape shape, Init init = Init::kZero);

  // Tensor of shape `shape` holding `values` (size must match).
  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values) {
    Tensor t(data_type_of<T>, std::move(shape));
    T* out = t.data<T>();
    for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < t.size(); ++i) out[i] = values[i];
    return t;
  }
  template <typename T>
  static Tensor scalar(T value) {
    return from_vector<T>({}, std::vector<T>{value});
  }

  static constexpr uint64_t kMaxBytes = uint64_t{1} << 40;

  bool defined() const { return dtype_ != DataType::kUndefined; }
  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[static_cast<size_t>(i)]; }
  int64_t size() const { return size_; }  // element count
  size_t bytes() const { return static_cast<size_t>(size_) * data_type_size(dtype_); }

  template <typename T>
  T* data() {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }
  void* raw() { return data_; }
  const void* raw() const { return data_; }

  // Same elements viewed with another shape of equal element count.
  Tensor reshaped(Shape shape) const;
  // Elements [offset, offset + count of `shape`) of this numeric tensor, seen as a tensor of `shape`
  // that shares the storage: writing through it writes this tensor. An undefined tensor when the range
  // does not lie within this one's elements (or this one holds strings).
  Tensor view(int64_t offset, Shape shape) const;
  // A deep copy that owns its elements.
  Tensor clone() const;

 private:
  struct Storage;
  DataType dtype_ = DataType::kUndefined;
  Shape shape_;
  int64_t size_ = 0;
  void* data_ = nullptr;
  std::shared_ptr<Storage> storage_;
};

}  // namespace kiln
