// Tensor elements to and from the KServe v2 HTTP JSON form: an array, flat or nested, row-major.
// (The binary extension's form is serve/raw_tensor.h, shared with gRPC.)
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::serve::http {

// A rapidjson output stream that appends to a string: a response body is written where it is sent
// from, with no intermediate buffer to copy out of.
struct StringOutput {
  using Ch = char;
  std::string* out;
  void Put(char c) { out->push_back(c); }
  void Flush() {}
};
// Its nesting stack comes from a MemoryPoolAllocator, which can live on the caller's stack.
using JsonWriter =
    rapidjson::Writer<StringOutput, rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>>;

// Builds a tensor from a JSON array. Fails with InvalidArgument naming `input` when the element count
// differs from the shape's, or an element has the wrong JSON type or is out of range for the datatype.
Expected<Tensor> tensor_from_json(const rapidjson::Value& data, DataType dtype, const Shape& shape,
                                  std::string_view input);
// Writes the elements as a flat JSON array. Non-finite floats are written as NaN/Infinity/-Infinity,
// which Python's json and rapidjson (kParseNanAndInfFlag) read, since JSON itself has no spelling.
void write_tensor_json(const Tensor& t, JsonWriter* writer);

}  // namespace kiln::serve::http
