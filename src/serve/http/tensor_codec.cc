#include "serve/http/tensor_codec.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "serve/datatype_names.h"
#include "serve/raw_tensor.h"

namespace kiln::serve::http {

namespace {

std::string prefix(std::string_view input) { return "input '" + std::string(input) + "': "; }

// Flattens nested arrays in row-major order. Depth is bounded (a tensor has at most a few dozen
// dims) so hostile nesting cannot exhaust the stack.
constexpr int kMaxNesting = 64;

bool flatten(const rapidjson::Value& v, std::vector<const rapidjson::Value*>* out, int depth) {
  if (!v.IsArray()) {
    out->push_back(&v);
    return true;
  }
  if (depth >= kMaxNesting) return false;
  for (const auto& e : v.GetArray()) {
    if (!flatten(e, out, depth + 1)) return false;
  }
  return true;
}

template <typename T>
bool convert(const rapidjson::Value& v, T* out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.IsBool()) return false;
    *out = v.GetBool();
    return true;
  } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, Float16> ||
                       std::is_same_v<T, BFloat16>) {
    if (!v.IsNumber()) return false;
    if constexpr (std::is_same_v<T, double>) {
      *out = v.GetDouble();
    } else {
      *out = T(static_cast<float>(v.GetDouble()));
    }
    return true;
  } else if constexpr (std::is_signed_v<T>) {
    if (!v.IsInt64()) return false;
    const int64_t x = v.GetInt64();
    if (x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max()) return false;
    *out = static_cast<T>(x);
    return true;
  } else {
    if (!v.IsUint64()) return false;
    const uint64_t x = v.GetUint64();
    if (x > std::numeric_limits<T>::max()) return false;
    *out = static_cast<T>(x);
    return true;
  }
}

template <typename T>
Status fill(const std::vector<const rapidjson::Value*>& elems, Tensor* t, std::string_view input) {
  T* out = t->data<T>();
  for (size_t i = 0; i < elems.size(); ++i) {
    if (!convert<T>(*elems[i], &out[i])) {
      return Status::InvalidArgument(prefix(input) + "element " + std::to_string(i) + " is not a valid " +
                                     std::string(kserve_datatype_name(t->dtype())));
    }
  }
  return Status::OK();
}

template <typename F>
auto visit_type(DataType t, F&& f) {
  switch (t) {
    case DataType::kBool:
      return f(bool{});
    case DataType::kUInt8:
      return f(uint8_t{});
    case DataType::kUInt16:
      return f(uint16_t{});
    case DataType::kUInt32:
      return f(uint32_t{});
    case DataType::kUInt64:
      return f(uint64_t{});
    case DataType::kInt8:
      return f(int8_t{});
    case DataType::kInt16:
      return f(int16_t{});
    case DataType::kInt32:
      return f(int32_t{});
    case DataType::kInt64:
      return f(int64_t{});
    case DataType::kFloat16:
      return f(Float16{});
    case DataType::kBFloat16:
      return f(BFloat16{});
    case DataType::kFloat64:
      return f(double{});
    case DataType::kFloat32:
    default:
      return f(float{});
  }
}

void write_float(double x, bool single, JsonWriter* w) {
  if (std::isnan(x)) {
    w->RawValue("NaN", 3, rapidjson::kNumberType);
  } else if (std::isinf(x)) {
    w->RawValue(x > 0 ? "Infinity" : "-Infinity", x > 0 ? 8 : 9, rapidjson::kNumberType);
  } else if (single) {
    // The shortest text that reads back as the same float, so 0.1f prints as 0.1, not 0.100000001.
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), static_cast<float>(x));
    w->RawValue(buf, static_cast<size_t>(end - buf), rapidjson::kNumberType);
  } else {
    w->Double(x);
  }
}

}  // namespace

Expected<Tensor> tensor_from_json(const rapidjson::Value& data, DataType dtype, const Shape& shape,
                                  std::string_view input) {
  KILN_ASSIGN_OR_RETURN(int64_t count, checked_element_count(shape, input));
  std::vector<const rapidjson::Value*> elems;
  if (!flatten(data, &elems, 0)) {
    return Status::InvalidArgument(prefix(input) + "'data' is nested more than " + std::to_string(kMaxNesting) +
                                   " levels deep");
  }
  if (static_cast<int64_t>(elems.size()) != count) {
    return Status::InvalidArgument(prefix(input) + "shape " + shape_to_string(shape) + " needs " +
                                   std::to_string(count) + " elements, data has " + std::to_string(elems.size()));
  }
  if (dtype == DataType::kString) {
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::make(dtype, shape));
    std::string* out = t.data<std::string>();
    for (size_t i = 0; i < elems.size(); ++i) {
      if (!elems[i]->IsString()) {
        return Status::InvalidArgument(prefix(input) + "element " + std::to_string(i) + " is not a string (BYTES)");
      }
      out[i].assign(elems[i]->GetString(), elems[i]->GetStringLength());
    }
    return t;
  }
  // fill() writes every element or fails, and a failed tensor is dropped: no zero-fill first.
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::make(dtype, shape, Tensor::Init::kUninitialized));
  Status st = visit_type(dtype, [&](auto tag) { return fill<decltype(tag)>(elems, &t, input); });
  if (!st.ok()) return st;
  return t;
}

void write_tensor_json(const Tensor& t, JsonWriter* w) {
  w->StartArray();
  const int64_t n = t.size();
  switch (t.dtype()) {
    case DataType::kString:
      for (int64_t i = 0; i < n; ++i) {
        const std::string& s = t.data<std::string>()[i];
        w->String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      }
      break;
    case DataType::kBool:
      for (int64_t i = 0; i < n; ++i) w->Bool(t.data<bool>()[i]);
      break;
    case DataType::kFloat32:
      for (int64_t i = 0; i < n; ++i) write_float(t.data<float>()[i], true, w);
      break;
    case DataType::kFloat16:
      for (int64_t i = 0; i < n; ++i) write_float(static_cast<float>(t.data<Float16>()[i]), true, w);
      break;
    case DataType::kBFloat16:
      for (int64_t i = 0; i < n; ++i) write_float(static_cast<float>(t.data<BFloat16>()[i]), true, w);
      break;
    case DataType::kFloat64:
      for (int64_t i = 0; i < n; ++i) write_float(t.data<double>()[i], false, w);
      break;
    case DataType::kUInt64:
      for (int64_t i = 0; i < n; ++i) w->Uint64(t.data<uint64_t>()[i]);
      break;
    default:
      visit_type(t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_integral_v<T>) {
          for (int64_t i = 0; i < n; ++i) w->Int64(static_cast<int64_t>(t.data<T>()[i]));
        }
        return 0;
      });
  }
  w->EndArray();
}

}  // namespace kiln::serve::http
