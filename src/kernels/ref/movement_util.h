// Helpers shared by the data-movement kernels (shape_ops, transpose, slice, gather_scatter, pad_tile,
// index_ops, depth_space): element copies that depend only on the element size, strided copies, and
// readers for the integer inputs these operators take.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/ref/common.h"

namespace kiln::ref {

// 16-byte element (complex128) moved as opaque bytes.
struct Bytes16 {
  uint64_t lo, hi;
};

// Calls fn(TypeTag<U>{}) with U an opaque type of the element size of `dtype` (uint8_t .. Bytes16),
// or std::string for strings. Movement kernels only copy elements, so one instantiation per size
// serves every data type.
template <typename Fn>
Status visit_storage(DataType dtype, Fn&& fn) {
  if (dtype == DataType::kString) return fn(TypeTag<std::string>{});
  switch (data_type_size(dtype)) {
    case 1: return fn(TypeTag<uint8_t>{});
    case 2: return fn(TypeTag<uint16_t>{});
    case 4: return fn(TypeTag<uint32_t>{});
    case 8: return fn(TypeTag<uint64_t>{});
    case 16: return fn(TypeTag<Bytes16>{});
    default: return Status::Unimplemented("data type " + std::string(data_type_name(dtype)) + " is not supported");
  }
}

// Integer arithmetic on user data wraps (two's complement) instead of overflowing, which is undefined
// behaviour for signed types; other types use the plain operators.
template <typename C>
C wrapping_add(C a, C b) {
  if constexpr (std::is_integral_v<C>) {
    return static_cast<C>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  } else {
    return a + b;
  }
}
template <typename C>
C wrapping_mul(C a, C b) {
  if constexpr (std::is_integral_v<C>) {
    return static_cast<C>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  } else {
    return a * b;
  }
}

// Allocates an output tensor, failing cleanly (not aborting) when the shape is too large.
inline Expected<Tensor> make_output(DataType dtype, const Shape& shape) { return Tensor::make(dtype, shape); }

// Checks that a tensor of `shape` and `dtype` could be made (no negative dim, not too large) without
// allocating it; for kernels that build per-axis tables before the output.
Status check_output_size(DataType dtype, const Shape& shape);

// Copies `out.size()` elements into `out` (row-major over out.shape()) from `in`, where output index
// (i0..ik) reads input element base + sum(i_d * in_strides[d]). Strides may be 0 (broadcast) or
// negative (reversed slices). The caller guarantees every read is in range.
void copy_strided(const Tensor& in, int64_t base, const std::vector<int64_t>& in_strides, Tensor& out);

// Permutes the axes of `in` (out dim d = in dim perm[d]); perm must be a valid permutation.
Expected<Tensor> transpose_tensor(const Tensor& in, const std::vector<int64_t>& perm);

// Product of dims with overflow detection; nullopt-style error when it exceeds int64.
Expected<int64_t> element_count(const Shape& shape);


// Normalizes `axes` against `rank`, rejecting out-of-range and repeated axes.
Expected<std::vector<int64_t>> normalize_axes(const std::vector<int64_t>& axes, int64_t rank);

}  // namespace kiln::ref
