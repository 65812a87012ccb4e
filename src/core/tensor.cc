#include "kiln/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include <unistd.h>

#include "core/buffer_pool.h"

namespace kiln {

std::optional<int64_t> checked_shape_size(const Shape& shape) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d == 0) return 0;  // an empty shape is empty however large its other dims
    overflow |= __builtin_mul_overflow(n, d, &n);
  }
  if (overflow) return std::nullopt;
  return n;
}

int64_t shape_size(const Shape& shape) {
  for (int64_t d : shape) {
    if (d <= 0) return 0;
  }
  return checked_shape_size(shape).value_or(std::numeric_limits<int64_t>::max());
}

std::string shape_to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Owns the elements. Numeric data is aligned for vector loads; strings are real objects. A block drawn
// from a run's BufferPool goes back to it: directly when freed on the thread running with that pool,
// else through its lock-free return list (an output the caller drops later, on any thread).
struct Tensor::Storage {
  void* numeric = nullptr;
  size_t capacity = 0;               // bytes of the numeric block
  std::shared_ptr<BufferPool> pool;  // null: the block came from allocate_block
  std::vector<std::string> strings;
  ~Storage() {
    if (numeric == nullptr) return;
    if (pool == nullptr) {
      free_block(numeric, capacity);
      return;
    }
    const std::shared_ptr<BufferPool>* current = ScopedBufferPool::current();
    if (current != nullptr && current->get() == pool.get()) {
      pool->give_back(numeric, capacity);
    } else {
      pool->give_back_from_any_thread(numeric, capacity);
    }
  }
};

namespace {

// No single tensor may exceed the machine's physical memory: zero-filling a larger allocation would
// only end in the out-of-memory killer, so it is refused up front instead.
uint64_t max_tensor_bytes() {
  static const uint64_t limit = [] {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0) return Tensor::kMaxBytes;
    return std::min<uint64_t>(Tensor::kMaxBytes, static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size));
  }();
  return limit;
}

}  // namespace

Tensor::Tensor(DataType dtype, Shape shape, Init init) : dtype_(dtype), shape_(std::move(shape)) {
  // Kernels compute output shapes from attributes a hostile model controls: an element count that
  // overflows, or a negative dim, must fail here rather than allocate a wrapped-around size.
  const std::optional<int64_t> count = checked_shape_size(shape_);
  if (!count) throw std::bad_alloc();
  size_ = *count;
  const uint64_t elem = dtype_ == DataType::kString ? sizeof(std::string) : data_type_size(dtype_);
  if (static_cast<uint64_t>(size_) > max_tensor_bytes() / (elem == 0 ? 1 : elem)) throw std::bad_alloc();
  storage_ = std::make_shared<Storage>();
  if (dtype_ == DataType::kString) {
    storage_->strings.resize(static_cast<size_t>(size_));
    data_ = storage_->strings.data();
    return;
  }
  const size_t bytes = static_cast<size_t>(size_) * data_type_size(dtype_);
  if (const std::shared_ptr<BufferPool>* pool = ScopedBufferPool::current()) {
    const BufferPool::Block block = (*pool)->take(bytes);
    if (block.data == nullptr) throw std::bad_alloc();
    storage_->numeric = block.data;
    storage_->capacity = block.capacity;
    storage_->pool = *pool;
    // A recycled block holds the last run's values.
    if (init == Init::kZero) std::memset(storage_->numeric, 0, bytes);
  } else {
    storage_->capacity = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
    storage_->numeric = allocate_block(storage_->capacity);
    if (storage_->numeric == nullptr) throw std::bad_alloc();
  }
  data_ = storage_->numeric;
}

Expected<Tensor> Tensor::make(DataType dtype, Shape shape, Init init) {
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
  if (n > max_tensor_bytes() / (elem == 0 ? 1 : elem)) {
    return Status::ResourceExhausted("tensor of shape " + shape_to_string(shape) + " (" +
                                     std::string(data_type_name(dtype)) + ") is larger than this machine's memory");
  }
  return Tensor(dtype, std::move(shape), init);
}

Tensor Tensor::reshaped(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::view(int64_t offset, Shape shape) const {
  const std::optional<int64_t> count = checked_shape_size(shape);
  if (!defined() || dtype_ == DataType::kString || !count || offset < 0 || offset > size_ || *count > size_ - offset) {
    return Tensor();
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  t.size_ = *count;
  t.data_ = static_cast<char*>(data_) + static_cast<size_t>(offset) * data_type_size(dtype_);
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
