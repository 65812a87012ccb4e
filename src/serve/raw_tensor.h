// The raw tensor form both KServe frontends carry: the HTTP binary tensor data extension's sections
// and gRPC's raw_input_contents / raw_output_contents. Elements are little-endian in row-major order;
// BOOL is one byte each; BYTES is each element as a 4-byte little-endian length and its bytes.
#pragma once

#include <string>
#include <string_view>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::serve {

// Element count of a client-given shape; InvalidArgument naming `input` for a negative dim or a count
// beyond what any request body could carry.
Expected<int64_t> checked_element_count(const Shape& shape, std::string_view input);

// Builds a tensor from its raw form; InvalidArgument naming `input` when the byte count does not match
// the shape (checked before allocating) or a BYTES element is truncated.
Expected<Tensor> tensor_from_raw(std::string_view bytes, DataType dtype, const Shape& shape, std::string_view input);

// Appends the raw form of `t` to `out`; returns the number of bytes appended.
size_t append_raw_tensor(const Tensor& t, std::string* out);

}  // namespace kiln::serve
