// Conversion between ONNX TensorProto / SequenceProto / OptionalProto and kiln tensors and values.
//
// Everything read here may come from an untrusted file: sizes are checked against the declared shape,
// external data paths must stay inside the model's folder, and every failure is a Status.
#pragma once

#include <string>

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/value.h"

namespace onnx {
class TensorProto;
class SparseTensorProto;
class TypeProto;
}  // namespace onnx

namespace kiln::onnx_io {

// Converts a TensorProto. `base_dir` is where external data files are looked up ("" = not allowed).
Expected<Tensor> tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir);
// Densifies a SparseTensorProto.
Expected<Tensor> tensor_from_sparse_proto(const onnx::SparseTensorProto& proto, const std::string& base_dir);
// Fills `proto` with the tensor's dims, type and data (raw_data for numbers, string_data for strings).
void tensor_to_proto(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto);

ir::TypeInfo type_from_proto(const onnx::TypeProto& proto);

// A value read from a .pb test-data file, with the name stored in it (may be empty).
struct NamedValueFromFile {
  std::string name;
  Value value;
};

// Reads a serialized TensorProto, SequenceProto or OptionalProto; `type` says which is expected
// (kUnknown = TensorProto). Errors name the file.
Expected<NamedValueFromFile> read_value_pb(const std::string& path, const ir::TypeInfo& type);
Expected<NamedValueFromFile> parse_value_pb(const std::string& bytes, const ir::TypeInfo& type);
// Serializes a Value (tensor, sequence, or none as an empty optional) under `name`.
Expected<std::string> serialize_value_pb(const Value& value, const std::string& name);

// Reads a whole file into `out`; errors name the path.
Status read_file(const std::string& path, std::string* out);

}  // namespace kiln::onnx_io
