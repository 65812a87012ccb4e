#include "onnx/npy.h"

#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include "onnx/tensor_proto.h"

namespace kiln::onnx_io {

// Numeric elements are copied as raw memory, which is little-endian .npy layout only on such hosts.
static_assert(std::endian::native == std::endian::little, "kiln's .npy code assumes a little-endian host");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kMaxRank = 64;  // numpy itself allows 32 (64 since 2.0)

// ---------------------------------------------------------------------------------------------------
// Header dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }". numpy writes it with
// repr(), so a tiny parser for string, bool and int-tuple literals covers every file it produces.

struct Header {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& file) : s_(text), file_(file) {}

  Expected<Header> parse() {
    Header h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    skip_ws();
    if (!eat('{')) return fail("does not start with '{'");
    while (true) {
      skip_ws();
      if (eat('}')) break;
      std::string key;
      KILN_RETURN_IF_ERROR(parse_string(&key));
      skip_ws();
      if (!eat(':')) return fail("expects ':' after key '" + key + "'");
      skip_ws();
      if (key == "descr") {
        if (peek() == '[') return fail("has a structured dtype, which kiln does not support");
        KILN_RETURN_IF_ERROR(parse_string(&h.descr));
        seen_descr = true;
      } else if (key == "fortran_order") {
        KILN_RETURN_IF_ERROR(parse_bool(&h.fortran_order));
        seen_order = true;
      } else if (key == "shape") {
        KILN_RETURN_IF_ERROR(parse_shape(&h.shape));
        seen_shape = true;
      } else {
        return fail("has unexpected key '" + key + "'");
      }
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      if (eat('}')) break;
      return fail("expects ',' or '}' after the value of '" + key + "'");
    }
    skip_ws();
    if (pos_ != s_.size()) return fail("has text after the closing '}'");
    if (!seen_descr || !seen_order || !seen_shape) {
      return fail("lacks one of the keys 'descr', 'fortran_order', 'shape'");
    }
    return h;
  }

 private:
  Status fail(const std::string& why) const { return Status::Corruption(file_ + ": .npy header " + why); }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) {
    if (peek() != c || pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  Status parse_string(std::string* out) {
    const char q = peek();
    if (q != '\'' && q != '"') return fail("expects a quoted string at offset " + std::to_string(pos_));
    ++pos_;
    const size_t end = s_.find(q, pos_);
    if (end == std::string_view::npos) return fail("has an unterminated string");
    const std::string_view body = s_.substr(pos_, end - pos_);
    if (body.find('\\') != std::string_view::npos) return fail("has a string with escapes");
    *out = std::string(body);
    pos_ = end + 1;
    return Status::OK();
  }

  Status parse_bool(bool* out) {
    if (s_.substr(pos_, 4) == "True") {
      *out = true;
      pos_ += 4;
    } else if (s_.substr(pos_, 5) == "False") {
      *out = false;
      pos_ += 5;
    } else {
      return fail("expects True or False for 'fortran_order'");
    }
    return Status::OK();
  }

  Status parse_shape(Shape* out) {
    if (!eat('(')) return fail("expects a tuple for 'shape'");
    while (true) {
      skip_ws();
      if (eat(')')) return Status::OK();
      if (peek() == '-') return fail("declares a negative dimension in 'shape'");
      if (peek() < '0' || peek() > '9') return fail("has a non-integer dimension in 'shape'");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        const int digit = peek() - '0';
        if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) return fail("has a dimension that overflows int64");
        v = v * 10 + digit;
        ++pos_;
      }
      eat('L');  // Python 2 wrote long integers as "3L"
      if (out->size() >= kMaxRank) return fail("declares more than " + std::to_string(kMaxRank) + " dimensions");
      out->push_back(v);
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      if (eat(')')) return Status::OK();
      return fail("expects ',' or ')' in 'shape'");
    }
  }

  std::string_view s_;
  const std::string& file_;
  size_t pos_ = 0;
};

// "(3, 4)", "(3,)", "()": numpy's spelling, used in errors and in written headers.
std::string python_tuple(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// ---------------------------------------------------------------------------------------------------
// descr: byte order, kind and size ("<f4", "|b1", ">i8", "<U7", "|S3").

enum class Kind { kNumeric, kUnicode, kBytes };

struct Descr {
  Kind kind = Kind::kNumeric;
  DataType dtype = DataType::kUndefined;
  size_t itemsize = 0;  // bytes per element in the file
  size_t unit = 1;      // bytes per byte-swapped unit (component of complex, code unit of unicode)
  bool big_endian = false;
};

Expected<Descr> parse_descr(const std::string& d, const std::string& file) {
  auto bad = [&](const std::string& why) { return Status::Unimplemented(file + ": dtype '" + d + "' " + why); };
  if (d.size() < 2) return bad("is not a numpy dtype");
  const char order = d[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') return bad("has no byte order character");
  const char kind = d[1];
  if (kind == 'O') return bad("is an object array (pickled Python objects), which kiln refuses to read");
  size_t n = 0;
  if (d.size() == 2 || d.size() > 10) return bad("is not a numpy dtype");
  for (size_t i = 2; i < d.size(); ++i) {
    if (d[i] < '0' || d[i] > '9') return bad("is not a numpy dtype");
    n = n * 10 + static_cast<size_t>(d[i] - '0');  // at most 8 digits: no overflow
  }
  Descr out;
  out.big_endian = order == '>';
  auto numeric = [&](DataType t, size_t unit) {
    out.dtype = t;
    out.itemsize = n;
    out.unit = unit;
    return out;
  };
  switch (kind) {
    case 'b': if (n == 1) return numeric(DataType::kBool, 1); break;
    case 'i':
      if (n == 1) return numeric(DataType::kInt8, 1);
      if (n == 2) return numeric(DataType::kInt16, 2);
      if (n == 4) return numeric(DataType::kInt32, 4);
      if (n == 8) return numeric(DataType::kInt64, 8);
      break;
    case 'u':
      if (n == 1) return numeric(DataType::kUInt8, 1);
      if (n == 2) return numeric(DataType::kUInt16, 2);
      if (n == 4) return numeric(DataType::kUInt32, 4);
      if (n == 8) return numeric(DataType::kUInt64, 8);
      break;
    case 'f':
      if (n == 2) return numeric(DataType::kFloat16, 2);
      if (n == 4) return numeric(DataType::kFloat32, 4);
      if (n == 8) return numeric(DataType::kFloat64, 8);
      break;
    case 'c':
      if (n == 8) return numeric(DataType::kComplex64, 4);
      if (n == 16) return numeric(DataType::kComplex128, 8);
      break;
    case 'U':
      if (n == 0) return bad("has zero-length elements");
      out.kind = Kind::kUnicode;
      out.dtype = DataType::kString;
      out.itemsize = 4 * n;
      out.unit = 4;
      return out;
    case 'S':
    case 'a':
      if (n == 0) return bad("has zero-length elements");
      out.kind = Kind::kBytes;
      out.dtype = DataType::kString;
      out.itemsize = n;
      out.unit = 1;
      return out;
    default: break;
  }
  return bad("is not supported");
}

// ---------------------------------------------------------------------------------------------------
// Element conversion.

uint64_t load_unit(const unsigned char* p, size_t unit, bool big_endian) {
  uint64_t v = 0;
  for (size_t i = 0; i < unit; ++i) {
    const uint64_t byte = p[big_endian ? i : unit - 1 - i];
    v = (v << 8) | byte;
  }
  return v;
}

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes strict UTF-8 into code points; false for malformed, overlong or surrogate sequences.
bool decode_utf8(std::string_view s, std::vector<uint32_t>* out) {
  out->clear();
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len;
    if (b0 < 0x80) { cp = b0; len = 1; }
    else if ((b0 & 0xE0) == 0xC0) { cp = b0 & 0x1F; len = 2; }
    else if ((b0 & 0xF0) == 0xE0) { cp = b0 & 0x0F; len = 3; }
    else if ((b0 & 0xF8) == 0xF0) { cp = b0 & 0x07; len = 4; }
    else return false;
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    out->push_back(cp);
    i += len;
  }
  return true;
}

// Calls f(c_index, file_index) for every element, where file_index is where the element at row-major
// position c_index sits in a column-major (fortran_order) file.
template <typename F>
void for_each_fortran_element(const Shape& shape, int64_t count, F f) {
  const size_t rank = shape.size();
  std::vector<int64_t> idx(rank, 0), stride(rank, 1);
  for (size_t d = 1; d < rank; ++d) stride[d] = stride[d - 1] * shape[d - 1];
  int64_t src = 0;
  for (int64_t i = 0; i < count; ++i) {
    f(i, src);
    for (size_t d = rank; d-- > 0;) {
      src += stride[d];
      if (++idx[d] < shape[d]) break;
      src -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
}

Status decode_string(const Descr& descr, const unsigned char* p, std::string* out, const std::string& file) {
  out->clear();
  if (descr.kind == Kind::kBytes) {
    size_t len = descr.itemsize;
    while (len > 0 && p[len - 1] == 0) --len;  // numpy pads with NULs
    out->assign(reinterpret_cast<const char*>(p), len);
    return Status::OK();
  }
  size_t units = descr.itemsize / 4;
  while (units > 0 && load_unit(p + 4 * (units - 1), 4, descr.big_endian) == 0) --units;
  for (size_t k = 0; k < units; ++k) {
    const auto cp = static_cast<uint32_t>(load_unit(p + 4 * k, 4, descr.big_endian));
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return Status::Corruption(file + ": unicode element holds invalid code point " + std::to_string(cp));
    }
    append_utf8(cp, out);
  }
  return Status::OK();
}

}  // namespace

Expected<Tensor> parse_npy(std::string_view bytes, const std::string& name) {
  auto corrupt = [&](const std::string& why) { return Status::Corruption(name + ": " + why); };
  if (bytes.size() < kMagicSize + 4 || bytes.substr(0, kMagicSize) != std::string_view(kMagic, kMagicSize)) {
    return corrupt("not a .npy file (bad magic)");
  }
  const auto major = static_cast<unsigned char>(bytes[6]);
  const auto minor = static_cast<unsigned char>(bytes[7]);
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    return Status::Unimplemented(name + ": .npy format version " + std::to_string(major) + "." +
                                 std::to_string(minor) + " is not supported (kiln reads 1.0, 2.0, 3.0)");
  }
  const size_t len_size = major == 1 ? 2 : 4;
  if (bytes.size() < kMagicSize + 2 + len_size) return corrupt("truncated .npy header");
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t header_len = static_cast<size_t>(load_unit(u + 8, len_size, false));
  const size_t header_start = kMagicSize + 2 + len_size;
  if (header_len > bytes.size() - header_start) {
    return corrupt(".npy header declares " + std::to_string(header_len) + " bytes, file has " +
                   std::to_string(bytes.size() - header_start) + " after the preamble (truncated?)");
  }
  KILN_ASSIGN_OR_RETURN(Header header, HeaderParser(bytes.substr(header_start, header_len), name).parse());
  KILN_ASSIGN_OR_RETURN(Descr descr, parse_descr(header.descr, name));

  // Element count and byte size, with every product checked for overflow.
  uint64_t count = 1;
  bool overflow = false;
  for (int64_t d : header.shape) overflow |= __builtin_mul_overflow(count, static_cast<uint64_t>(d), &count);
  for (int64_t d : header.shape) if (d == 0) { count = 0; overflow = false; }
  uint64_t need = 0;
  overflow |= __builtin_mul_overflow(count, static_cast<uint64_t>(descr.itemsize), &need);
  const std::string_view data = bytes.substr(header_start + header_len);
  if (overflow || need != data.size()) {
    return corrupt("header declares shape " + python_tuple(header.shape) + " of " + header.descr + " = " +
                   (overflow ? std::string("more than 2^64") : std::to_string(need)) + " bytes, file has " +
                   std::to_string(data.size()));
  }
  auto made = Tensor::make(descr.dtype, header.shape);
  if (!made.ok()) return made.status().with_context(name);
  Tensor t = std::move(made).value();
  const int64_t n = t.size();
  const auto* src = reinterpret_cast<const unsigned char*>(data.data());
  const size_t item = descr.itemsize;
  // Visits (row-major destination index, index of the element in the file).
  auto for_each = [&](auto&& f) {
    if (header.fortran_order && header.shape.size() > 1) {
      for_each_fortran_element(header.shape, n, f);
    } else {
      for (int64_t i = 0; i < n; ++i) f(i, i);
    }
  };

  if (descr.kind != Kind::kNumeric) {
    auto* out = t.data<std::string>();
    Status st;
    for_each([&](int64_t i, int64_t s) {
      if (st.ok()) st = decode_string(descr, src + static_cast<size_t>(s) * item, &out[i], name);
    });
    KILN_RETURN_IF_ERROR(st);
    return t;
  }
  auto* dst = static_cast<unsigned char*>(t.raw());
  const bool swap = descr.big_endian && descr.unit > 1;
  for_each([&](int64_t i, int64_t s) {
    unsigned char* d = dst + static_cast<size_t>(i) * item;
    const unsigned char* p = src + static_cast<size_t>(s) * item;
    if (!swap) {
      std::memcpy(d, p, item);
      return;
    }
    for (size_t c = 0; c < item; c += descr.unit) {
      for (size_t b = 0; b < descr.unit; ++b) d[c + b] = p[c + descr.unit - 1 - b];
    }
  });
  if (descr.dtype == DataType::kBool) {
    // A bool object must hold 0 or 1; numpy reads any nonzero byte as True.
    for (int64_t i = 0; i < n; ++i) dst[i] = dst[i] != 0;
  }
  return t;
}

Expected<Tensor> read_npy(const std::string& path) {
  std::string bytes;
  KILN_RETURN_IF_ERROR(read_file(path, &bytes));
  return parse_npy(bytes, path);
}

Expected<std::string> serialize_npy(const Tensor& t) {
  if (!t.defined()) return Status::InvalidArgument("cannot write an undefined tensor to .npy");
  std::string descr;
  size_t item = data_type_size(t.dtype());
  std::vector<std::vector<uint32_t>> unicode;  // decoded strings, when writing '<U'
  bool as_bytes = false;
  switch (t.dtype()) {
    case DataType::kBool: descr = "|b1"; break;
    case DataType::kInt8: descr = "|i1"; break;
    case DataType::kUInt8: descr = "|u1"; break;
    case DataType::kInt16: descr = "<i2"; break;
    case DataType::kUInt16: descr = "<u2"; break;
    case DataType::kInt32: descr = "<i4"; break;
    case DataType::kUInt32: descr = "<u4"; break;
    case DataType::kInt64: descr = "<i8"; break;
    case DataType::kUInt64: descr = "<u8"; break;
    case DataType::kFloat16: descr = "<f2"; break;
    case DataType::kFloat32: descr = "<f4"; break;
    case DataType::kFloat64: descr = "<f8"; break;
    case DataType::kComplex64: descr = "<c8"; break;
    case DataType::kComplex128: descr = "<c16"; break;
    case DataType::kBFloat16:  // no numpy dtype: widen to float32, which holds every value exactly
      descr = "<f4";
      item = 4;
      break;
    case DataType::kString: {
      const auto* s = t.data<std::string>();
      size_t longest = 1;  // numpy's smallest string dtype is one character
      unicode.resize(static_cast<size_t>(t.size()));
      for (int64_t i = 0; i < t.size() && !as_bytes; ++i) {
        as_bytes = !decode_utf8(s[i], &unicode[static_cast<size_t>(i)]);
        longest = std::max(longest, unicode[static_cast<size_t>(i)].size());
      }
      if (as_bytes) {
        longest = 1;
        for (int64_t i = 0; i < t.size(); ++i) longest = std::max(longest, s[i].size());
        descr = "|S" + std::to_string(longest);
        item = longest;
      } else {
        descr = "<U" + std::to_string(longest);
        item = 4 * longest;
      }
      break;
    }
    case DataType::kUndefined: return Status::InvalidArgument("cannot write an undefined tensor to .npy");
  }
  const uint64_t count = static_cast<uint64_t>(t.size());
  if (item != 0 && count > Tensor::kMaxBytes / item) {
    return Status::ResourceExhausted("tensor of shape " + shape_to_string(t.shape()) + " is too large for .npy");
  }
  // numpy pads the header with spaces so that the data starts at a multiple of 64 bytes.
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + python_tuple(t.shape()) + ", }";
  size_t prefix = kMagicSize + 2 + 2;
  if (dict.size() + 1 + 64 > 65535) prefix = kMagicSize + 2 + 4;  // version 2.0: 4-byte header length
  dict.append((64 - (prefix + dict.size() + 1) % 64) % 64, ' ');
  dict.push_back('\n');
  std::string out(kMagic, kMagicSize);
  out.push_back(static_cast<char>(prefix == 10 ? 1 : 2));
  out.push_back(0);
  for (size_t b = 0; b < prefix - kMagicSize - 2; ++b) out.push_back(static_cast<char>((dict.size() >> (8 * b)) & 0xFF));
  out += dict;
  const size_t data_start = out.size();
  out.resize(data_start + static_cast<size_t>(count) * item, '\0');
  char* dst = out.data() + data_start;
  if (t.dtype() == DataType::kBFloat16) {
    const auto* v = t.data<BFloat16>();
    for (uint64_t i = 0; i < count; ++i) {
      const float f = v[i];
      std::memcpy(dst + 4 * i, &f, 4);
    }
  } else if (t.dtype() == DataType::kString) {
    const auto* s = t.data<std::string>();
    for (uint64_t i = 0; i < count; ++i) {
      char* e = dst + i * item;
      if (as_bytes) {
        std::memcpy(e, s[i].data(), s[i].size());
        continue;
      }
      const auto& cps = unicode[i];
      for (size_t k = 0; k < cps.size(); ++k) {
        for (size_t b = 0; b < 4; ++b) e[4 * k + b] = static_cast<char>((cps[k] >> (8 * b)) & 0xFF);
      }
    }
  } else if (count > 0) {
    std::memcpy(dst, t.raw(), t.bytes());
  }
  return out;
}

Status write_npy(const std::string& path, const Tensor& tensor) {
  auto bytes = serialize_npy(tensor);
  if (!bytes.ok()) return bytes.status().with_context(path);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return Status::IOError("cannot create " + path);
  f.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  f.close();
  if (!f) return Status::IOError("cannot write " + path);
  return Status::OK();
}

}  // namespace kiln::onnx_io
