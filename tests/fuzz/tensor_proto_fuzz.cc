// Fuzzes TensorProto / SequenceProto / OptionalProto reading (the .pb inputs of kiln run and kiln test).
// The first byte picks the message type; whatever parses must serialize and parse back.
#include <cstdlib>

#include "ir/graph.h"
#include "onnx/tensor_proto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  if (size == 0) return 0;
  ir::TypeInfo type;
  switch (data[0] % 3) {
    case 0: type.kind = ir::TypeInfo::Kind::kTensor; break;
    case 1: type.kind = ir::TypeInfo::Kind::kSequence; break;
    default: type.kind = ir::TypeInfo::Kind::kOptional; break;
  }
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  auto v = onnx_io::parse_value_pb(bytes, type);
  if (!v.ok()) return 0;
  auto out = onnx_io::serialize_value_pb(v->value, v->name);
  if (!out.ok()) abort();
  // An optional holding a tensor or sequence is written as the bare value; read it back as such.
  ir::TypeInfo back_type = type;
  if (type.kind == ir::TypeInfo::Kind::kOptional && v->value.is_tensor()) back_type.kind = ir::TypeInfo::Kind::kTensor;
  if (type.kind == ir::TypeInfo::Kind::kOptional && v->value.is_sequence()) back_type.kind = ir::TypeInfo::Kind::kSequence;
  auto back = onnx_io::parse_value_pb(*out, back_type);
  if (!back.ok() || back->value.kind() != v->value.kind()) abort();
  return 0;
}
