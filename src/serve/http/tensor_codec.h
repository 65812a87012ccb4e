// Tensor elements to and from the KServe v2 HTTP forms: a JSON array (flat or nested, row-major) and
// the binary extension's raw little-endian bytes (BOOL one byte each; BYTES as a 4-byte little-endian
// length before each element).
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::serve::http {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Element count of a client-given shape; InvalidArgument naming `input` for a negative dim or a count
// beyond what any request body could carry.
Expected<int64_t> checked_element_count(const Shape& shape, std::string_view input);

// Builds a tensor from a JSON array. Fails with InvalidArgument naming `input` when the element count
// differs from the shape's, or an element has the wrong JSON type or is out of range for the datatype.
Expected<Tensor> tensor_from_json(const rapidjson::Value& data, DataType dtype, const Shape& shape,
                                  std::string_view input);
// Builds a tensor from its binary form; InvalidArgument when the byte count does not match the shape.
Expected<Tensor> tensor_from_binary(std::string_view bytes, DataType dtype, const Shape& shape, std::string_view input);

// Writes the elements as a flat JSON array. Non-finite floats are written as NaN/Infinity/-Infinity,
// which Python's json and rapidjson (kParseNanAndInfFlag) read, since JSON itself has no spelling.
void write_tensor_json(const Tensor& t, JsonWriter* writer);
// Appends the binary form; returns the number of bytes appended.
size_t append_tensor_binary(const Tensor& t, std::string* out);

}  // namespace kiln::serve::http
