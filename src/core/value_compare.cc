#include "core/value_compare.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

namespace kiln {
namespace {

double as_double(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.data<float>()[i];
    case DataType::kFloat64: return t.data<double>()[i];
    case DataType::kFloat16: return static_cast<float>(t.data<Float16>()[i]);
    case DataType::kBFloat16: return static_cast<float>(t.data<BFloat16>()[i]);
    case DataType::kComplex64: return t.data<float>()[i];
    case DataType::kComplex128: return t.data<double>()[i];
    case DataType::kInt8: return t.data<int8_t>()[i];
    case DataType::kInt16: return t.data<int16_t>()[i];
    case DataType::kInt32: return t.data<int32_t>()[i];
    case DataType::kInt64: return static_cast<double>(t.data<int64_t>()[i]);
    case DataType::kUInt8: return t.data<uint8_t>()[i];
    case DataType::kUInt16: return t.data<uint16_t>()[i];
    case DataType::kUInt32: return t.data<uint32_t>()[i];
    case DataType::kUInt64: return static_cast<double>(t.data<uint64_t>()[i]);
    case DataType::kBool: return t.data<bool>()[i] ? 1 : 0;
    default: return 0;
  }
}

bool elements_equal_exactly(const Tensor& a, const Tensor& b, int64_t i) {
  const size_t w = data_type_size(a.dtype());
  return std::memcmp(static_cast<const char*>(a.raw()) + i * static_cast<int64_t>(w),
                     static_cast<const char*>(b.raw()) + i * static_cast<int64_t>(w), w) == 0;
}

Comparison compare_tensors(const Tensor& expected, const Tensor& actual, const Tolerance& tol) {
  Comparison c;
  if (expected.dtype() != actual.dtype()) {
    c.match = false;
    c.mismatch = "expected data type " + std::string(data_type_name(expected.dtype())) + ", got " +
                 std::string(data_type_name(actual.dtype()));
    return c;
  }
  if (expected.shape() != actual.shape()) {
    c.match = false;
    c.mismatch = "expected shape " + shape_to_string(expected.shape()) + ", got " + shape_to_string(actual.shape());
    return c;
  }
  const DataType dt = expected.dtype();
  int64_t n = expected.size();
  if (dt == DataType::kComplex64 || dt == DataType::kComplex128) n *= 2;
  const bool floating = is_floating(dt) || dt == DataType::kComplex64 || dt == DataType::kComplex128;
  for (int64_t i = 0; i < n; ++i) {
    bool ok;
    std::string e_str, a_str;
    if (dt == DataType::kString) {
      ok = expected.data<std::string>()[i] == actual.data<std::string>()[i];
      if (!ok) {
        e_str = "'" + expected.data<std::string>()[i] + "'";
        a_str = "'" + actual.data<std::string>()[i] + "'";
      }
    } else if (floating) {
      const double e = as_double(expected, i);
      const double a = as_double(actual, i);
      if (std::isnan(e) || std::isnan(a)) {
        ok = std::isnan(e) && std::isnan(a);
      } else if (std::isinf(e) || std::isinf(a)) {
        ok = e == a;
      } else {
        const double err = std::fabs(a - e);
        c.max_abs_error = std::max(c.max_abs_error, err);
        ok = err <= tol.atol + tol.rtol * std::fabs(e);
      }
      if (!ok) {
        std::ostringstream es, as;
        es.precision(9);
        as.precision(9);
        es << e;
        as << a;
        e_str = es.str();
        a_str = as.str();
      }
    } else {
      ok = elements_equal_exactly(expected, actual, i);
      if (!ok) {
        std::ostringstream es, as;
        es << as_double(expected, i);
        as << as_double(actual, i);
        e_str = es.str();
        a_str = as.str();
      }
    }
    if (!ok && c.match) {
      c.match = false;
      c.mismatch = "element " + std::to_string(i) + ": expected " + e_str + ", got " + a_str;
    }
  }
  return c;
}

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::kNone: return "an empty optional";
    case Value::Kind::kTensor: return "a tensor";
    case Value::Kind::kSequence: return "a sequence";
  }
  return "?";
}

}  // namespace

Comparison compare_values(const Value& expected, const Value& actual, const Tolerance& tolerance) {
  if (expected.kind() != actual.kind()) {
    Comparison c;
    c.match = false;
    c.mismatch = std::string("expected ") + kind_name(expected.kind()) + ", got " + kind_name(actual.kind());
    return c;
  }
  if (expected.is_tensor()) return compare_tensors(expected.tensor(), actual.tensor(), tolerance);
  Comparison total;
  if (expected.is_sequence()) {
    const auto& e = expected.sequence_items();
    const auto& a = actual.sequence_items();
    if (e.size() != a.size()) {
      total.match = false;
      total.mismatch = "expected a sequence of " + std::to_string(e.size()) + " tensors, got " + std::to_string(a.size());
      return total;
    }
    for (size_t i = 0; i < e.size(); ++i) {
      Comparison c = compare_tensors(e[i], a[i], tolerance);
      total.max_abs_error = std::max(total.max_abs_error, c.max_abs_error);
      if (!c.match && total.match) {
        total.match = false;
        total.mismatch = "sequence item " + std::to_string(i) + ": " + c.mismatch;
      }
    }
  }
  return total;
}

}  // namespace kiln
