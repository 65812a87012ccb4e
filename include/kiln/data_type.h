// Element types of tensors. The numeric values are ONNX's TensorProto.DataType codes, so a code read
// from a model converts with a range check and no table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/float16.h"

namespace kiln {

enum class DataType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
};

// Bytes per element; 0 for kUndefined and kString (strings are stored as std::string objects).
size_t data_type_size(DataType t);
// ONNX's spelling: "float", "uint8", ..., "bfloat16".
std::string_view data_type_name(DataType t);
// The DataType for an ONNX TensorProto code, or nullopt for an unknown code.
std::optional<DataType> data_type_from_onnx(int32_t code);
bool is_floating(DataType t);  // float16, bfloat16, float, double
bool is_signed_integer(DataType t);
bool is_unsigned_integer(DataType t);

// Maps a C++ element type to its DataType.
template <typename T>
struct DataTypeOf;
#define KILN_DATA_TYPE_OF(cpp, dt) \
  template <>                      \
  struct DataTypeOf<cpp> {         \
    static constexpr DataType value = dt; \
  };
KILN_DATA_TYPE_OF(float, DataType::kFloat32)
KILN_DATA_TYPE_OF(double, DataType::kFloat64)
KILN_DATA_TYPE_OF(Float16, DataType::kFloat16)
KILN_DATA_TYPE_OF(BFloat16, DataType::kBFloat16)
KILN_DATA_TYPE_OF(int8_t, DataType::kInt8)
KILN_DATA_TYPE_OF(int16_t, DataType::kInt16)
KILN_DATA_TYPE_OF(int32_t, DataType::kInt32)
KILN_DATA_TYPE_OF(int64_t, DataType::kInt64)
KILN_DATA_TYPE_OF(uint8_t, DataType::kUInt8)
KILN_DATA_TYPE_OF(uint16_t, DataType::kUInt16)
KILN_DATA_TYPE_OF(uint32_t, DataType::kUInt32)
KILN_DATA_TYPE_OF(uint64_t, DataType::kUInt64)
KILN_DATA_TYPE_OF(bool, DataType::kBool)
KILN_DATA_TYPE_OF(std::string, DataType::kString)
#undef KILN_DATA_TYPE_OF

template <typename T>
inline constexpr DataType data_type_of = DataTypeOf<T>::value;

}  // namespace kiln
