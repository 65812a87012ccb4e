// Tensors read from and written to registered system shared memory: the tensor source and sink both
// frontends use for inputs and requested outputs that carry Triton's shared_memory_region parameters.
// The bytes are in the raw tensor form (serve/raw_tensor.h).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "kiln/status.h"
#include "kiln/tensor.h"
#include "serve/shared_memory/system_shared_memory.h"

namespace kiln::serve {

// Requested outputs to write into shared memory, by output name (resolved when the request is decoded,
// so each holds its region mapped until the response is encoded).
using SharedMemoryOutputs = std::map<std::string, SharedMemoryTensorTarget>;

// Copies an input out of its region; InvalidArgument naming `input` when shared_memory_byte_size does
// not match shape x datatype, or a BYTES element is truncated.
Expected<Tensor> tensor_from_shared_memory(const SharedMemoryTensorTarget& source, DataType dtype, const Shape& shape,
                                           std::string_view input);

// Writes `t` in raw form at the target; returns the bytes written. InvalidArgument naming `output`,
// and writing nothing, when the target's shared_memory_byte_size is too small.
Expected<uint64_t> write_tensor_to_shared_memory(const Tensor& t, const SharedMemoryTensorTarget& target,
                                                 std::string_view output);

}  // namespace kiln::serve
