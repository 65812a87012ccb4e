// Reading and writing numpy .npy files (format versions 1.0, 2.0 and 3.0).
//
// Reading accepts what numpy writes for plain arrays: bool, int8..int64, uint8..uint64, float16/32/64,
// complex64/128 in either byte order (big-endian is converted), fortran_order=True (converted to C
// order), unicode '<U{n}' (UTF-32, converted to UTF-8 strings with numpy's trailing NUL padding removed)
// and byte strings '|S{n}'. Object arrays ('|O', which hold pickles) and structured dtypes are refused:
// unpickling untrusted bytes is not something an inference engine should do.
//
// Writing covers every kiln dtype. bfloat16 has no numpy dtype, so it is written as float32 '<f4'
// (every bfloat16 value is exactly a float32, so nothing is lost; reading it back gives float32).
// Strings are written as '<U{longest}' when all are valid UTF-8, else as '|S{longest}' bytes; numpy
// pads with NULs, so trailing NUL characters of a string do not survive a round trip.
//
// The bytes are untrusted: every size is checked, and errors are one line naming the file and the reason.
#pragma once

#include <string>
#include <string_view>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::onnx_io {

// Parses the bytes of a .npy file; `name` names the file in errors.
Expected<Tensor> parse_npy(std::string_view bytes, const std::string& name);
Expected<Tensor> read_npy(const std::string& path);

// Returns the bytes of a .npy file holding `tensor` (version 1.0, or 2.0 for a header over 64 KiB).
Expected<std::string> serialize_npy(const Tensor& tensor);
Status write_npy(const std::string& path, const Tensor& tensor);

}  // namespace kiln::onnx_io
