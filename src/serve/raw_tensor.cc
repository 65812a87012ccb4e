#include "serve/raw_tensor.h"

#include <cstring>
#include <vector>

#include "serve/datatype_names.h"

namespace kiln::serve {

namespace {

std::string prefix(std::string_view input) { return "input '" + std::string(input) + "': "; }

}  // namespace

Expected<int64_t> checked_element_count(const Shape& shape, std::string_view input) {
  // 2^40 elements is far beyond any body kiln accepts. The bound applies to the product of the
  // non-zero dims too: an empty [0, 2^62] tensor costs nothing to send, but kernels that multiply its
  // other dims (Flatten, TopK's scratch) would overflow or allocate for it.
  constexpr int64_t kMax = int64_t{1} << 40;
  int64_t nonzero = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0)
      return Status::InvalidArgument(prefix(input) + "shape " + shape_to_string(shape) + " has a negative dim");
    if (d == 0) {
      empty = true;
      continue;
    }
    if (nonzero > kMax / d)
      return Status::InvalidArgument(prefix(input) + "shape " + shape_to_string(shape) + " is too large");
    nonzero *= d;
  }
  return empty ? 0 : nonzero;
}

Expected<Tensor> tensor_from_raw(std::string_view bytes, DataType dtype, const Shape& shape, std::string_view input) {
  KILN_ASSIGN_OR_RETURN(int64_t count, checked_element_count(shape, input));
  if (dtype == DataType::kString) {
    std::vector<std::string_view> items;
    size_t pos = 0;
    while (pos < bytes.size()) {
      if (bytes.size() - pos < 4) return Status::InvalidArgument(prefix(input) + "truncated BYTES length prefix");
      uint32_t len = 0;
      for (int b = 3; b >= 0; --b) len = (len << 8) | static_cast<unsigned char>(bytes[pos + static_cast<size_t>(b)]);
      pos += 4;
      if (bytes.size() - pos < len) return Status::InvalidArgument(prefix(input) + "truncated BYTES element");
      items.push_back(bytes.substr(pos, len));
      pos += len;
    }
    if (static_cast<int64_t>(items.size()) != count) {
      return Status::InvalidArgument(prefix(input) + "shape " + shape_to_string(shape) + " needs " +
                                     std::to_string(count) + " BYTES elements, binary data has " +
                                     std::to_string(items.size()));
    }
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::make(dtype, shape));
    for (size_t i = 0; i < items.size(); ++i) t.data<std::string>()[i] = std::string(items[i]);
    return t;
  }
  const size_t expected = static_cast<size_t>(count) * data_type_size(dtype);
  if (bytes.size() != expected) {
    return Status::InvalidArgument(prefix(input) + "shape " + shape_to_string(shape) + " of " +
                                   std::string(kserve_datatype_name(dtype)) + " needs " + std::to_string(expected) +
                                   " bytes, binary_data_size is " + std::to_string(bytes.size()));
  }
  // Every byte is copied over below: no zero-fill first (600 KB per resnet18 image, a page-faulting
  // pass over memory that the copy then writes again).
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::make(dtype, shape, Tensor::Init::kUninitialized));
  if (expected > 0) std::memcpy(t.raw(), bytes.data(), expected);  // x86-64 and the protocol: little-endian
  if (dtype == DataType::kBool) {
    // Any nonzero byte is true; normalize so the engine only ever sees 0 and 1.
    auto* b = static_cast<unsigned char*>(t.raw());
    for (int64_t i = 0; i < count; ++i) b[i] = b[i] != 0;
  }
  return t;
}

size_t append_raw_tensor(const Tensor& t, std::string* out) {
  const size_t before = out->size();
  if (t.dtype() == DataType::kString) {
    for (int64_t i = 0; i < t.size(); ++i) {
      const std::string& s = t.data<std::string>()[i];
      const auto len = static_cast<uint32_t>(s.size());
      for (int b = 0; b < 4; ++b) out->push_back(static_cast<char>((len >> (8 * b)) & 0xff));
      out->append(s);
    }
  } else {
    out->append(static_cast<const char*>(t.raw()), t.bytes());
  }
  return out->size() - before;
}

}  // namespace kiln::serve
