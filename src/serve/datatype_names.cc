#include "serve/datatype_names.h"

#include <utility>

namespace kiln::serve {

namespace {

constexpr std::pair<std::string_view, DataType> kNames[] = {
    {"BOOL", DataType::kBool},     {"UINT8", DataType::kUInt8},   {"UINT16", DataType::kUInt16},
    {"UINT32", DataType::kUInt32}, {"UINT64", DataType::kUInt64}, {"INT8", DataType::kInt8},
    {"INT16", DataType::kInt16},   {"INT32", DataType::kInt32},   {"INT64", DataType::kInt64},
    {"FP16", DataType::kFloat16},  {"BF16", DataType::kBFloat16}, {"FP32", DataType::kFloat32},
    {"FP64", DataType::kFloat64},  {"BYTES", DataType::kString},
};

}  // namespace

std::string_view kserve_datatype_name(DataType t) {
  for (const auto& [n, d] : kNames) {
    if (d == t) return n;
  }
  return "";
}

std::optional<DataType> data_type_from_kserve_name(std::string_view name) {
  for (const auto& [n, d] : kNames) {
    if (n == name) return d;
  }
  return std::nullopt;
}

}  // namespace kiln::serve
