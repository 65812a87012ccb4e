// Imports an ONNX ModelProto (from a file or from bytes) into an ir::Model.
//
// The bytes are untrusted: a truncated or non-ONNX file, a tensor whose data does not match its shape,
// or an external data path outside the model's folder each give a Status naming the file and the part
// that is wrong. Operators are not checked here; the planner reports unknown ones.
#pragma once

#include <string>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::onnx_io {

Expected<ir::Model> import_model_file(const std::string& path);
// `base_dir` is where external data files are looked up ("" forbids external data); `source` names
// the model in errors.
Expected<ir::Model> import_model_bytes(const void* data, size_t size, const std::string& base_dir,
                                       const std::string& source);

}  // namespace kiln::onnx_io
