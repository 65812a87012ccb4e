#include "onnx/tensor_proto.h"

#include <onnx/onnx-data_pb.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kiln::onnx_io {
namespace {

Status corrupt(const onnx::TensorProto& p, const std::string& why) {
  return Status::Corruption("tensor '" + p.name() + "': " + why);
}

// Copies `count` values of a repeated field into typed storage, converting each element.
template <typename Dst, typename Field, typename Convert>
void copy_field(const Field& field, Dst* dst, Convert convert) {
  for (int i = 0; i < field.size(); ++i) dst[i] = convert(field.Get(i));
}

Status read_external(const onnx::TensorProto& p, const std::string& base_dir, size_t bytes, std::string* out) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& kv : p.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = std::atoll(kv.value().c_str());
    else if (kv.key() == "length") length = std::atoll(kv.value().c_str());
  }
  if (base_dir.empty()) return corrupt(p, "uses external data, but the model was not loaded from a file");
  if (location.empty()) return corrupt(p, "external data has no location");
  const std::filesystem::path rel(location);
  if (rel.is_absolute()) return corrupt(p, "external data location '" + location + "' must be relative");
  for (const auto& part : rel) {
    if (part == "..") return corrupt(p, "external data location '" + location + "' leaves the model folder");
  }
  const std::string path = (std::filesystem::path(base_dir) / rel).string();
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::IOError("tensor '" + p.name() + "': cannot open external data file " + path);
  f.seekg(0, std::ios::end);
  const int64_t file_size = f.tellg();
  if (offset < 0 || offset > file_size) return corrupt(p, "external data offset is outside " + path);
  if (length < 0) length = file_size - offset;
  if (static_cast<size_t>(length) != bytes || offset + length > file_size) {
    return corrupt(p, "external data in " + path + " has " + std::to_string(length) + " bytes, expected " +
                          std::to_string(bytes));
  }
  out->resize(bytes);
  f.seekg(offset);
  f.read(out->data(), static_cast<std::streamsize>(bytes));
  if (!f) return Status::IOError("tensor '" + p.name() + "': short read from " + path);
  return Status::OK();
}

// The element count of a declared shape, checked like Tensor::make but without allocating, so that a
// tiny file declaring a huge shape is rejected by the data-size checks instead of by the allocator.
Expected<int64_t> checked_element_count(const onnx::TensorProto& p, DataType dt, const Shape& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return Status::InvalidArgument("tensor '" + p.name() + "': negative dimension in shape " + shape_to_string(shape));
  }
  for (int64_t d : shape) {
    if (d == 0) return int64_t{0};
  }
  const uint64_t elem = dt == DataType::kString ? sizeof(std::string) : data_type_size(dt);
  for (int64_t d : shape) {
    if (n > Tensor::kMaxBytes / elem / static_cast<uint64_t>(d)) {
      return Status::ResourceExhausted("tensor '" + p.name() + "': tensor of shape " + shape_to_string(shape) +
                                       " is too large");
    }
    n *= static_cast<uint64_t>(d);
  }
  return static_cast<int64_t>(n);
}

// How many entries the typed field for `dt` holds, and how many the shape needs (complex numbers take two).
std::pair<int64_t, int64_t> typed_field_count(const onnx::TensorProto& p, DataType dt, int64_t n) {
  switch (dt) {
    case DataType::kFloat32: return {p.float_data_size(), n};
    case DataType::kComplex64: return {p.float_data_size(), 2 * n};
    case DataType::kFloat64: return {p.double_data_size(), n};
    case DataType::kComplex128: return {p.double_data_size(), 2 * n};
    case DataType::kInt64: return {p.int64_data_size(), n};
    case DataType::kUInt32:
    case DataType::kUInt64: return {p.uint64_data_size(), n};
    case DataType::kString: return {p.string_data_size(), n};
    default: return {p.int32_data_size(), n};  // every type of 16 bits or fewer, and int32
  }
}

}  // namespace

Expected<Tensor> tensor_from_proto(const onnx::TensorProto& p, const std::string& base_dir) {
  const auto dtype = data_type_from_onnx(p.data_type());
  if (!dtype || *dtype == DataType::kUndefined) {
    return corrupt(p, "unknown data type code " + std::to_string(p.data_type()));
  }
  if (p.has_segment()) return Status::Unimplemented("tensor '" + p.name() + "': segmented tensors are not supported");
  Shape shape(p.dims().begin(), p.dims().end());
  const DataType dt = *dtype;
  KILN_ASSIGN_OR_RETURN(const int64_t n, checked_element_count(p, dt, shape));
  // Every size is checked against the data present before the tensor is allocated.
  auto allocate = [&]() -> Expected<Tensor> {
    auto made = Tensor::make(dt, shape);
    if (!made.ok()) return made.status().with_context("tensor '" + p.name() + "'");
    return made;
  };

  if (dt == DataType::kString) {
    if (p.string_data_size() != n) {
      return corrupt(p, "has " + std::to_string(p.string_data_size()) + " strings, shape " +
                            shape_to_string(shape) + " needs " + std::to_string(n));
    }
    KILN_ASSIGN_OR_RETURN(Tensor t, allocate());
    auto* out = t.data<std::string>();
    for (int64_t i = 0; i < n; ++i) out[i] = p.string_data(static_cast<int>(i));
    return t;
  }

  const size_t bytes = static_cast<size_t>(n) * data_type_size(dt);
  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string data;
    KILN_RETURN_IF_ERROR(read_external(p, base_dir, bytes, &data));
    KILN_ASSIGN_OR_RETURN(Tensor t, allocate());
    if (bytes > 0) std::memcpy(t.raw(), data.data(), bytes);
    return t;
  }
  if (!p.raw_data().empty()) {
    if (p.raw_data().size() != bytes) {
      return corrupt(p, "raw_data has " + std::to_string(p.raw_data().size()) + " bytes, shape " +
                            shape_to_string(shape) + " of " + std::string(data_type_name(dt)) + " needs " +
                            std::to_string(bytes));
    }
    KILN_ASSIGN_OR_RETURN(Tensor t, allocate());
    std::memcpy(t.raw(), p.raw_data().data(), bytes);
    return t;
  }

  const auto [count, expected] = typed_field_count(p, dt, n);
  if (count != expected) {
    return corrupt(p, "has " + std::to_string(count) + " values, shape " + shape_to_string(shape) + " needs " +
                          std::to_string(expected));
  }
  KILN_ASSIGN_OR_RETURN(Tensor t, allocate());
  switch (dt) {
    case DataType::kFloat32:
      copy_field(p.float_data(), t.data<float>(), [](float v) { return v; });
      break;
    case DataType::kComplex64:
      copy_field(p.float_data(), t.data<float>(), [](float v) { return v; });
      break;
    case DataType::kFloat64:
      copy_field(p.double_data(), t.data<double>(), [](double v) { return v; });
      break;
    case DataType::kComplex128:
      copy_field(p.double_data(), t.data<double>(), [](double v) { return v; });
      break;
    case DataType::kInt64:
      copy_field(p.int64_data(), t.data<int64_t>(), [](int64_t v) { return v; });
      break;
    case DataType::kUInt32:
      copy_field(p.uint64_data(), t.data<uint32_t>(), [](uint64_t v) { return static_cast<uint32_t>(v); });
      break;
    case DataType::kUInt64:
      copy_field(p.uint64_data(), t.data<uint64_t>(), [](uint64_t v) { return v; });
      break;
    case DataType::kInt32:
      copy_field(p.int32_data(), t.data<int32_t>(), [](int32_t v) { return v; });
      break;
    case DataType::kInt16:
      copy_field(p.int32_data(), t.data<int16_t>(), [](int32_t v) { return static_cast<int16_t>(v); });
      break;
    case DataType::kInt8:
      copy_field(p.int32_data(), t.data<int8_t>(), [](int32_t v) { return static_cast<int8_t>(v); });
      break;
    case DataType::kUInt16:
    case DataType::kFloat16:
    case DataType::kBFloat16:
      // float16 and bfloat16 travel as their bit patterns in int32_data.
      copy_field(p.int32_data(), t.data<uint16_t>(), [](int32_t v) { return static_cast<uint16_t>(v); });
      break;
    case DataType::kUInt8:
      copy_field(p.int32_data(), t.data<uint8_t>(), [](int32_t v) { return static_cast<uint8_t>(v); });
      break;
    case DataType::kBool:
      copy_field(p.int32_data(), t.data<bool>(), [](int32_t v) { return v != 0; });
      break;
    case DataType::kString:
    case DataType::kUndefined:
      break;
  }
  return t;
}

Expected<Tensor> tensor_from_sparse_proto(const onnx::SparseTensorProto& proto, const std::string& base_dir) {
  KILN_ASSIGN_OR_RETURN(Tensor values, tensor_from_proto(proto.values(), base_dir));
  KILN_ASSIGN_OR_RETURN(Tensor indices, tensor_from_proto(proto.indices(), base_dir));
  const std::string name = proto.values().name();
  auto corrupt = [&](const std::string& why) { return Status::Corruption("sparse tensor '" + name + "': " + why); };
  if (indices.dtype() != DataType::kInt64) return corrupt("indices must be int64");
  const size_t elem = data_type_size(values.dtype());
  if (elem == 0) return Status::Unimplemented("sparse tensor '" + name + "': string values are not supported");
  Shape shape(proto.dims().begin(), proto.dims().end());
  // A few bytes of sparse data may declare an enormous dense shape; kiln densifies sparse tensors, so
  // it bounds the dense size before allocating (a real model's sparse weights are far below this).
  constexpr uint64_t kMaxDenseBytes = uint64_t{1} << 30;
  uint64_t dense_bytes = elem;
  for (int64_t d : shape) {
    if (d < 0) return corrupt("negative dimension in shape " + shape_to_string(shape));
    if (d != 0 && dense_bytes > kMaxDenseBytes / static_cast<uint64_t>(d)) {
      return Status::ResourceExhausted("sparse tensor '" + name + "': dense shape " + shape_to_string(shape) +
                                       " exceeds the 1 GiB kiln densifies");
    }
    dense_bytes *= static_cast<uint64_t>(d);
  }
  const int64_t nnz = values.size();
  const int64_t rank = static_cast<int64_t>(shape.size());
  const bool linear = indices.rank() == 1;
  if ((linear && indices.size() != nnz) || (!linear && (indices.rank() != 2 || indices.dim(0) != nnz || indices.dim(1) != rank))) {
    return corrupt("indices shape " + shape_to_string(indices.shape()) + " does not match " + std::to_string(nnz) +
                   " values of rank " + std::to_string(rank));
  }
  KILN_ASSIGN_OR_RETURN(Tensor dense, Tensor::make(values.dtype(), shape));
  const int64_t total = dense.size();
  const auto* idx = indices.data<int64_t>();
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  for (int64_t k = 0; k < nnz; ++k) {
    int64_t offset = 0;
    if (linear) {
      offset = idx[k];
    } else {
      // Each coordinate is range-checked, so the offset cannot overflow.
      for (int64_t d = 0; d < rank; ++d) {
        const int64_t c = idx[k * rank + d];
        if (c < 0 || c >= shape[static_cast<size_t>(d)]) return corrupt("index out of range");
        offset += c * strides[static_cast<size_t>(d)];
      }
    }
    if (offset < 0 || offset >= total) return corrupt("index out of range");
    std::memcpy(static_cast<char*>(dense.raw()) + offset * static_cast<int64_t>(elem),
                static_cast<const char*>(values.raw()) + k * static_cast<int64_t>(elem), elem);
  }
  return dense;
}

void tensor_to_proto(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto) {
  proto->Clear();
  proto->set_name(name);
  proto->set_data_type(static_cast<int32_t>(tensor.dtype()));
  for (int64_t d : tensor.shape()) proto->add_dims(d);
  if (tensor.dtype() == DataType::kString) {
    const auto* s = tensor.data<std::string>();
    for (int64_t i = 0; i < tensor.size(); ++i) proto->add_string_data(s[i]);
  } else {
    proto->set_raw_data(tensor.raw(), tensor.bytes());
  }
}

ir::TypeInfo type_from_proto(const onnx::TypeProto& proto) {
  ir::TypeInfo t;
  if (proto.has_tensor_type() || proto.has_sparse_tensor_type()) {
    const bool sparse = proto.has_sparse_tensor_type();
    t.kind = sparse ? ir::TypeInfo::Kind::kSparseTensor : ir::TypeInfo::Kind::kTensor;
    const int32_t code = sparse ? proto.sparse_tensor_type().elem_type() : proto.tensor_type().elem_type();
    t.elem_type = data_type_from_onnx(code).value_or(DataType::kUndefined);
    const bool has_shape = sparse ? proto.sparse_tensor_type().has_shape() : proto.tensor_type().has_shape();
    if (has_shape) {
      const auto& shape = sparse ? proto.sparse_tensor_type().shape() : proto.tensor_type().shape();
      std::vector<ir::Dim> dims;
      for (const auto& d : shape.dim()) {
        ir::Dim dim;
        if (d.has_dim_value()) dim.value = d.dim_value();
        else if (d.has_dim_param()) dim.symbol = d.dim_param();
        dims.push_back(dim);
      }
      t.shape = std::move(dims);
    }
  } else if (proto.has_sequence_type()) {
    t.kind = ir::TypeInfo::Kind::kSequence;
    t.element = std::make_shared<ir::TypeInfo>(type_from_proto(proto.sequence_type().elem_type()));
  } else if (proto.has_optional_type()) {
    t.kind = ir::TypeInfo::Kind::kOptional;
    t.element = std::make_shared<ir::TypeInfo>(type_from_proto(proto.optional_type().elem_type()));
  } else if (proto.has_map_type()) {
    t.kind = ir::TypeInfo::Kind::kMap;
  }
  return t;
}

Status read_file(const std::string& path, std::string* out) {
  std::error_code ec;
  // An ifstream opens a folder without complaint and reads nothing from it; say what is wrong instead.
  if (std::filesystem::is_directory(path, ec)) return Status::IOError(path + " is a folder, not a file");
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::IOError("cannot open " + path);
  // Sized up front: a stringstream would grow by doubling and hold up to twice the file at its peak.
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  f.seekg(0, std::ios::beg);
  if (size < 0 || !f) return Status::IOError("cannot read " + path);
  out->resize(static_cast<size_t>(size));
  f.read(out->data(), size);
  if (f.gcount() != size) return Status::IOError("cannot read " + path);
  return Status::OK();
}

namespace {

Expected<Value> value_from_sequence(const onnx::SequenceProto& seq);

Expected<Value> value_from_optional(const onnx::OptionalProto& opt) {
  switch (opt.elem_type()) {
    case onnx::OptionalProto::TENSOR: {
      if (!opt.has_tensor_value()) return Value();
      KILN_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(opt.tensor_value(), ""));
      return Value(std::move(t));
    }
    case onnx::OptionalProto::SEQUENCE:
      if (!opt.has_sequence_value()) return Value();
      return value_from_sequence(opt.sequence_value());
    case onnx::OptionalProto::UNDEFINED: return Value();
    default: return Status::Unimplemented("optional '" + opt.name() + "' holds an unsupported element type");
  }
}

Expected<Value> value_from_sequence(const onnx::SequenceProto& seq) {
  if (seq.elem_type() != onnx::SequenceProto::TENSOR && seq.elem_type() != onnx::SequenceProto::UNDEFINED) {
    return Status::Unimplemented("sequence '" + seq.name() + "' holds an unsupported element type");
  }
  std::vector<Tensor> items;
  DataType elem = DataType::kUndefined;
  for (const auto& tp : seq.tensor_values()) {
    KILN_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(tp, ""));
    elem = t.dtype();
    items.push_back(std::move(t));
  }
  return Value::sequence(std::move(items), elem);
}

}  // namespace

Expected<NamedValueFromFile> parse_value_pb(const std::string& bytes, const ir::TypeInfo& type) {
  NamedValueFromFile out;
  if (type.kind == ir::TypeInfo::Kind::kSequence) {
    onnx::SequenceProto seq;
    if (!seq.ParseFromString(bytes)) return Status::Corruption("not a valid SequenceProto");
    out.name = seq.name();
    KILN_ASSIGN_OR_RETURN(out.value, value_from_sequence(seq));
    if (out.value.sequence_type() == DataType::kUndefined && type.element) {
      out.value = Value::sequence({}, type.element->elem_type);
    }
    return out;
  }
  if (type.kind == ir::TypeInfo::Kind::kOptional) {
    onnx::OptionalProto opt;
    if (!opt.ParseFromString(bytes)) return Status::Corruption("not a valid OptionalProto");
    out.name = opt.name();
    KILN_ASSIGN_OR_RETURN(out.value, value_from_optional(opt));
    return out;
  }
  onnx::TensorProto tp;
  if (!tp.ParseFromString(bytes)) return Status::Corruption("not a valid TensorProto");
  out.name = tp.name();
  // ONNX <= 1.12 test generators stored bfloat16 data as uint16 bit patterns; read them as declared.
  if (type.kind == ir::TypeInfo::Kind::kTensor && type.elem_type == DataType::kBFloat16 &&
      tp.data_type() == onnx::TensorProto::UINT16) {
    tp.set_data_type(onnx::TensorProto::BFLOAT16);
  }
  KILN_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(tp, ""));
  out.value = Value(std::move(t));
  return out;
}

Expected<NamedValueFromFile> read_value_pb(const std::string& path, const ir::TypeInfo& type) {
  std::string bytes;
  KILN_RETURN_IF_ERROR(read_file(path, &bytes));
  auto parsed = parse_value_pb(bytes, type);
  if (!parsed.ok()) return parsed.status().with_context(path);
  return parsed;
}

Expected<std::string> serialize_value_pb(const Value& value, const std::string& name) {
  std::string out;
  if (value.is_tensor()) {
    onnx::TensorProto tp;
    tensor_to_proto(value.tensor(), name, &tp);
    if (!tp.SerializeToString(&out)) return Status::Internal("cannot serialize tensor '" + name + "'");
  } else if (value.is_sequence()) {
    onnx::SequenceProto seq;
    seq.set_name(name);
    seq.set_elem_type(onnx::SequenceProto::TENSOR);
    for (const Tensor& t : value.sequence_items()) tensor_to_proto(t, "", seq.add_tensor_values());
    if (!seq.SerializeToString(&out)) return Status::Internal("cannot serialize sequence '" + name + "'");
  } else {
    onnx::OptionalProto opt;
    opt.set_name(name);
    if (!opt.SerializeToString(&out)) return Status::Internal("cannot serialize optional '" + name + "'");
  }
  return out;
}

}  // namespace kiln::onnx_io
