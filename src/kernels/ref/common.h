// Shared building blocks of the reference kernels: type dispatch, broadcasting, axis handling.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/kernel.h"
#include "kiln/tensor.h"

namespace kiln::ref {

template <typename T>
struct TypeTag {
  using type = T;
};

template <typename... Ts>
struct TypeList {};

using FloatTypes = TypeList<float, double, Float16, BFloat16>;
using SignedIntTypes = TypeList<int8_t, int16_t, int32_t, int64_t>;
using UnsignedIntTypes = TypeList<uint8_t, uint16_t, uint32_t, uint64_t>;
using IntTypes = TypeList<int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t>;
using NumericTypes =
    TypeList<float, double, Float16, BFloat16, int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t>;
using SignedNumericTypes = TypeList<float, double, Float16, BFloat16, int8_t, int16_t, int32_t, int64_t>;
using AllTypes = TypeList<float, double, Float16, BFloat16, int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t,
                          uint32_t, uint64_t, bool, std::string>;

// Calls fn(TypeTag<T>{}) for the T in the list whose DataType is `dtype` and returns its Status;
// Unimplemented naming the type when the list does not contain it.
template <typename... Ts, typename Fn>
Status visit_type(TypeList<Ts...>, DataType dtype, Fn&& fn) {
  Status status;
  const bool handled = ((dtype == data_type_of<Ts> ? (status = fn(TypeTag<Ts>{}), true) : false) || ...);
  if (!handled) {
    return Status::Unimplemented("data type " + std::string(data_type_name(dtype)) + " is not supported");
  }
  return status;
}

// Arithmetic type for T: float for the 16-bit floats, T otherwise.
template <typename T>
using ComputeType = std::conditional_t<std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>, float, T>;

// Broadcast `shapes` together under ONNX (numpy) multidirectional rules.
Expected<Shape> broadcast_shapes(const std::vector<Shape>& shapes);

// Per-dimension strides of `shape` aligned to the right of an output of rank `out_rank`, with stride 0
// where the input is broadcast (dimension 1 or missing).
std::vector<int64_t> broadcast_strides(const Shape& shape, size_t out_rank);

// Walks every element of an output shape, tracking the matching offset in each broadcast input.
class BroadcastIterator {
 public:
  BroadcastIterator(const Shape& out_shape, const std::vector<Shape>& in_shapes);
  int64_t offset(size_t input) const { return offsets_[input]; }
  void next();  // advance to the next output element (row-major)

 private:
  Shape out_shape_;
  std::vector<std::vector<int64_t>> strides_;
  std::vector<int64_t> index_;
  std::vector<int64_t> offsets_;
};

// Row-major strides of a shape.
std::vector<int64_t> strides_of(const Shape& shape);

// Normalizes a possibly negative axis into [0, rank); error names the axis and rank.
Expected<int64_t> normalize_axis(int64_t axis, int64_t rank);

// Reads every element of an int32 or int64 tensor of any rank as int64 values, in row-major order.
Expected<std::vector<int64_t>> read_int_values(const Tensor& t, const char* what);
// Reads a 1-D (or scalar) integer tensor (int32 or int64) as int64 values.
Expected<std::vector<int64_t>> read_int_list(const Tensor& t, const char* what);
// Reads a scalar tensor of any numeric type as double.
Expected<double> read_scalar(const Tensor& t, const char* what);

// Element conversion used by Cast and friends: numeric types through double (keeping int64 exact),
// bool as 0/1.
template <typename To, typename From>
To convert_element(const From& v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, bool>) {
    return static_cast<ComputeType<From>>(v) != ComputeType<From>(0);
  } else if constexpr (std::is_same_v<From, bool>) {
    return To(v ? 1.0f : 0.0f);
  } else if constexpr (std::is_same_v<To, Float16> || std::is_same_v<To, BFloat16>) {
    return To(static_cast<float>(static_cast<ComputeType<From>>(v)));
  } else if constexpr (std::is_same_v<From, Float16> || std::is_same_v<From, BFloat16>) {
    return static_cast<To>(static_cast<float>(v));
  } else {
    return static_cast<To>(v);
  }
}

// A factory for kernels that need nothing from the node.
template <typename Fn>
KernelFactory stateless(Fn fn) {
  return [fn](const KernelBuildContext&) -> Expected<std::unique_ptr<Kernel>> {
    return std::unique_ptr<Kernel>(std::make_unique<FunctionKernel>(fn));
  };
}

// Checks that input i is present and a tensor; the error names the input by position.
Status require_tensor(const KernelContext& ctx, size_t i);

// The reference kernel (the registry's, below every fast one) of `node` at `opset`: how the references
// of fused nodes run the nodes they stand for.
Expected<std::unique_ptr<Kernel>> build_reference_of(const ir::Node& node, int64_t opset);

}  // namespace kiln::ref
