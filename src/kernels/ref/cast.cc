// Cast and CastLike between every pair of ONNX tensor types, strings included.
//
// Numbers convert like numpy's astype: floats to integers truncate toward zero (and wrap to narrower
// types; see float_to_int), anything nonzero is true. Narrowing to float16/bfloat16 rounds to nearest
// even once, even from double (via round-to-odd to float, which makes the two roundings exact).
// Numbers become strings the way numpy's str() prints them ("0.47892547", "1e-05", "nan", "-inf",
// "True"); strings parse as decimal numbers, with "NaN", "INF", "+INF", "-INF" in any case.
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>

#include "kernels/ref/elementwise.h"

namespace kiln::ref {
namespace {

using CastNumericTypes = TypeList<float, double, Float16, BFloat16, int8_t, int16_t, int32_t, int64_t, uint8_t,
                                  uint16_t, uint32_t, uint64_t, bool>;

// double -> float rounding to odd: the float nearest below or above, whichever has an odd last bit,
// when inexact. A later round-to-nearest-even to 16 bits is then exactly the direct rounding.
float round_to_odd_float(double d) {
  float f = static_cast<float>(d);
  if (!std::isfinite(f) || static_cast<double>(f) == d) return f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 1u) == 0) f = std::nextafter(f, d > static_cast<double>(f) ? std::numeric_limits<float>::infinity()
                                                                         : -std::numeric_limits<float>::infinity());
  return f;
}

template <typename To, typename From>
To cast_number(const From& v) {
  if constexpr (is_small_float_v<To> && !std::is_same_v<To, From> &&
                (std::is_same_v<From, double> || std::is_same_v<From, int64_t> || std::is_same_v<From, uint64_t>)) {
    return To(round_to_odd_float(static_cast<double>(v)));
  } else {
    return convert_value<To, From>(v);
  }
}

// ---------------------------------------------------------------------------------------------------
// Numbers to strings

// Shortest round-trip decimal digits of a floating value in scientific form, e.g. "4.7892547e-01".
template <typename T>
std::string shortest_scientific(T v) {
  char buf[64];
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
    return std::string(buf, r.ptr);
  } else {
    // 16-bit floats: the fewest digits that read back to the same bits.
    const float f = static_cast<float>(v);
    for (int precision = 0; precision < 9; ++precision) {
      auto r = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific, precision);
      float back = 0;
      std::from_chars(buf, r.ptr, back);
      if (T(back).bits == v.bits) return std::string(buf, r.ptr);
    }
    auto r = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
    return std::string(buf, r.ptr);
  }
}

// numpy's str() of a float scalar: positional for 1e-4 <= |x| < 1e16 (and 0) with at least one
// fractional digit ("1.0"), scientific otherwise with a two-digit exponent minimum ("1e-05").
template <typename T>
std::string format_float(T value) {
  const double d = static_cast<double>(static_cast<ComputeType<T>>(value));
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  const std::string sci = shortest_scientific(value);  // [-]D[.DDD]e(+|-)XX
  const bool negative = sci[0] == '-';
  const size_t e_pos = sci.find('e');
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e_pos; ++i) {
    if (sci[i] != '.') digits += sci[i];
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int exp10 = std::stoi(sci.substr(e_pos + 1));
  std::string out = negative ? "-" : "";
  const double magnitude = std::fabs(d);
  if (magnitude >= 1e-4 && magnitude < 1e16) {
    const int n = static_cast<int>(digits.size());
    if (exp10 >= n - 1) {
      out += digits + std::string(static_cast<size_t>(exp10 - (n - 1)), '0') + ".0";
    } else if (exp10 >= 0) {
      out += digits.substr(0, static_cast<size_t>(exp10 + 1)) + "." + digits.substr(static_cast<size_t>(exp10 + 1));
    } else {
      out += "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    const int a = std::abs(exp10);
    out += std::string(exp10 < 0 ? "e-" : "e+") + (a < 10 ? "0" : "") + std::to_string(a);
  }
  return out;
}

template <typename T>
std::string to_string_element(const T& v) {
  if constexpr (std::is_same_v<T, bool>) return v ? "True" : "False";
  else if constexpr (std::is_integral_v<T>) return std::to_string(v);
  else return format_float(v);
}

// ---------------------------------------------------------------------------------------------------
// Strings to numbers

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Parses the whole of `s` as F (float or double); from_chars knows "inf", "infinity" and "nan" in any
// case but not a leading '+'.
template <typename F>
bool parse_floating(std::string_view s, F* out) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '+') return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (r.ec == std::errc::result_out_of_range) {
    // Overflow to +-infinity and underflow to zero, like strtod.
    double d = std::strtod(std::string(s).c_str(), nullptr);
    *out = static_cast<F>(d);
    return true;
  }
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

template <typename T>
Status parse_element(const std::string& text, T* out) {
  auto fail = [&]() {
    return Status::InvalidArgument("cannot parse '" + text + "' as " + std::string(data_type_name(data_type_of<T>)));
  };
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    if (!parse_floating(text, out)) return fail();
  } else if constexpr (is_small_float_v<T>) {
    double d;
    if (!parse_floating(text, &d)) return fail();
    *out = cast_number<T>(d);
  } else if constexpr (std::is_same_v<T, bool>) {
    const std::string_view s = trim(text);
    if (s == "True" || s == "true" || s == "TRUE") {
      *out = true;
    } else if (s == "False" || s == "false" || s == "FALSE") {
      *out = false;
    } else {
      double d;
      if (!parse_floating(s, &d)) return fail();
      *out = d != 0;
    }
  } else {
    // Integers: exact decimal first, then any float spelling truncated toward zero.
    std::string_view s = trim(text);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    using Wide = std::conditional_t<std::is_unsigned_v<T>, uint64_t, int64_t>;
    Wide w = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), w);
    if (!s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size()) {
      *out = static_cast<T>(w);
    } else {
      double d;
      if (!parse_floating(s, &d)) return fail();
      *out = float_to_int<T>(d);
    }
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------

Expected<Tensor> cast_tensor(const Tensor& in, DataType to) {
  if (in.dtype() == to) return in;
  Tensor out(to, in.shape());
  const int64_t n = in.size();
  if (in.dtype() == DataType::kString) {
    const std::string* src = in.data<std::string>();
    KILN_RETURN_IF_ERROR(visit_type(CastNumericTypes{}, to, [&](auto tag) -> Status {
      using To = typename decltype(tag)::type;
      To* dst = out.data<To>();
      for (int64_t i = 0; i < n; ++i) KILN_RETURN_IF_ERROR(parse_element(src[i], &dst[i]));
      return Status::OK();
    }));
    return out;
  }
  KILN_RETURN_IF_ERROR(visit_type(CastNumericTypes{}, in.dtype(), [&](auto from_tag) -> Status {
    using From = typename decltype(from_tag)::type;
    const From* src = in.data<From>();
    if (to == DataType::kString) {
      std::string* dst = out.data<std::string>();
      for (int64_t i = 0; i < n; ++i) dst[i] = to_string_element(src[i]);
      return Status::OK();
    }
    return visit_type(CastNumericTypes{}, to, [&](auto to_tag) {
      using To = typename decltype(to_tag)::type;
      To* dst = out.data<To>();
      for (int64_t i = 0; i < n; ++i) dst[i] = cast_number<To>(src[i]);
      return Status::OK();
    });
  }));
  return out;
}

bool castable(DataType t) {
  return t != DataType::kUndefined && t != DataType::kComplex64 && t != DataType::kComplex128;
}

// Opset 1 spelled the target as a string ("FLOAT"); later opsets as a TensorProto code.
Expected<DataType> parse_cast_target(const ir::Attribute& attr) {
  if (attr.type == ir::Attribute::Type::kString) {
    std::string name;
    for (char c : attr.s) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (int code = 1; code <= 16; ++code) {
      const auto t = data_type_from_onnx(code);
      if (t && (data_type_name(*t) == name || (name == "double" && *t == DataType::kFloat64) ||
                (name == "float32" && *t == DataType::kFloat32) || (name == "float64" && *t == DataType::kFloat64))) {
        return *t;
      }
    }
    return Status::InvalidArgument("unknown Cast target type '" + attr.s + "'");
  }
  const auto t = data_type_from_onnx(static_cast<int32_t>(attr.i));
  if (!t) return Status::InvalidArgument("unknown Cast target type code " + std::to_string(attr.i));
  return *t;
}

class CastKernel : public Kernel {
 public:
  explicit CastKernel(DataType to) : to_(to) {}
  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    if (!castable(ctx.tensor(0).dtype())) {
      return Status::Unimplemented("Cast from " + std::string(data_type_name(ctx.tensor(0).dtype())) + " is not supported");
    }
    KILN_ASSIGN_OR_RETURN(Tensor out, cast_tensor(ctx.tensor(0), to_));
    ctx.set_output(0, Value(std::move(out)));
    return Status::OK();
  }

 private:
  DataType to_;
};

Expected<std::unique_ptr<Kernel>> make_cast(const KernelBuildContext& b) {
  const ir::Attribute* to = b.node.find_attr("to");
  if (!to) return Status::InvalidArgument("Cast needs a 'to' attribute");
  KILN_ASSIGN_OR_RETURN(DataType target, parse_cast_target(*to));
  if (!castable(target)) {
    return Status::Unimplemented("Cast to " + std::string(data_type_name(target)) + " is not supported");
  }
  return std::unique_ptr<Kernel>(std::make_unique<CastKernel>(target));
}

// CastLike: Cast to the element type of input 1 (whose values are ignored).
Status cast_like(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
  const DataType from = ctx.tensor(0).dtype();
  const DataType to = ctx.tensor(1).dtype();
  if (!castable(from) || !castable(to)) {
    return Status::Unimplemented("CastLike from " + std::string(data_type_name(from)) + " to " +
                                 std::string(data_type_name(to)) + " is not supported");
  }
  KILN_ASSIGN_OR_RETURN(Tensor out, cast_tensor(ctx.tensor(0), to));
  ctx.set_output(0, Value(std::move(out)));
  return Status::OK();
}

}  // namespace

KILN_REGISTER_KERNEL("", "Cast", 1, kMaxOpset, make_cast);
KILN_REGISTER_KERNEL("", "CastLike", 15, kMaxOpset, stateless(cast_like));

}  // namespace kiln::ref
